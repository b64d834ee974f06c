//! The session task against a fake peer on loopback: two speakers that
//! connect to each other at once (RFC 4271 §6.8).

use std::net::Ipv4Addr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::*;

fn local(router_id: [u8; 4]) -> Local {
    Local {
        asn: 64500,
        router_id: Ipv4Addr::from(router_id),
        peer_asn: 64500,
        hold_time: 90,
        graceful_restart: None,
    }
}

/// Sluice (router id 10.0.0.5) connects to a fake peer, which accepts but,
/// itself in OpenSent, does not answer; the peer then connects to Sluice
/// and sends its OPEN there. Returns the two connections as the fake peer
/// sees them: (Sluice's, its own), once Sluice's OPEN has been read, and
/// the task with the receiver of its events.
async fn both_connect(peer_id: [u8; 4]) -> (Conn, Conn, Handle, mpsc::Receiver<(usize, Event)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = Settings {
        name: "peer".into(),
        address: IpAddr::from([127, 0, 0, 1]),
        port: listener.local_addr().unwrap().port(),
        local: local([10, 0, 0, 5]),
        ebgp: false,
        passive: false,
        md5: None,
        ttl: 64,
        min_ttl: None,
        connect_retry: Duration::from_secs(3),
        send_hold: None,
        limits: Limits::default(),
    };
    let (events, events_rx) = mpsc::channel(16);
    let handle = spawn(0, settings, events);
    let (sluices, _) = timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("Sluice connects")
        .unwrap();
    let mut sluices = Conn::new(sluices);
    assert!(is_open(&sluices.read_owned().await.unwrap()));
    // The peer's own connection, as the daemon's listener would hand it over.
    let inbound = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mine = TcpStream::connect(inbound.local_addr().unwrap())
        .await
        .unwrap();
    let (theirs, _) = inbound.accept().await.unwrap();
    handle.incoming.send(theirs).await.unwrap();
    let mut mine = Conn::new(mine);
    mine.stream
        .write_all(&encode::open(&local(peer_id).open()))
        .await
        .unwrap();
    (sluices, mine, handle, events_rx)
}

/// The next message's bytes.
async fn read(conn: &mut Conn) -> Vec<u8> {
    timeout(Duration::from_secs(5), conn.read_owned())
        .await
        .expect("an answer within 5 s, not after the 30 s OpenSent wait")
        .unwrap()
}

fn is_open(m: &[u8]) -> bool {
    matches!(Message::decode(m), Ok(Message::Open(_)))
}

fn is_keepalive(m: &[u8]) -> bool {
    matches!(Message::decode(m), Ok(Message::Keepalive))
}

fn is_collision(m: &[u8]) -> bool {
    matches!(Message::decode(m), Ok(Message::Notification(n)) if n.code == err::CEASE && n.subcode == err::CEASE_COLLISION)
}

#[tokio::test]
async fn a_peer_with_the_higher_id_keeps_its_connection() {
    let (mut sluices, mut mine, handle, _events) = both_connect([10, 0, 0, 9]).await;
    assert!(is_open(&read(&mut mine).await), "OPEN on the peer's");
    assert!(is_keepalive(&read(&mut mine).await));
    assert!(
        is_collision(&read(&mut sluices).await),
        "Sluice's own closed"
    );
    handle.task.abort();
}

#[tokio::test]
async fn a_peer_with_the_lower_id_is_refused_the_second_connection() {
    let (mut sluices, mut mine, handle, _events) = both_connect([10, 0, 0, 1]).await;
    assert!(is_collision(&read(&mut mine).await), "the peer's closed");
    // Sluice's connection goes on: the peer's OPEN there gets a KEEPALIVE.
    sluices
        .stream
        .write_all(&encode::open(&local([10, 0, 0, 1]).open()))
        .await
        .unwrap();
    assert!(is_keepalive(&read(&mut sluices).await));
    handle.task.abort();
}
