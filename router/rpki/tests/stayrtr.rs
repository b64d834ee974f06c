//! The RTR client against a real cache: StayRTR (Debian's `stayrtr`)
//! serving a JSON file of ROAs on loopback. A blocking loop stands in for
//! the daemon's I/O: connect, send the query, feed what arrives.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_rpki::client::{Fault, Update};
use sluice_rpki::pdu::decode;
use sluice_rpki::{Client, Event, Validity, Vrp};

/// A StayRTR process, killed when dropped.
struct Cache {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_roas(path: &Path, roas: &[(&str, u8, u32)]) {
    let entries: Vec<String> = roas
        .iter()
        .map(|(p, max, asn)| format!(r#"{{"prefix":"{p}","maxLength":{max},"asn":"AS{asn}"}}"#))
        .collect();
    // Written beside and renamed: the cache never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!(r#"{{"roas":[{}]}}"#, entries.join(","))).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start_cache(roas: &Path, protocol: u8) -> Cache {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(roas.with_extension("log")).unwrap();
    let child = Command::new("stayrtr")
        .args(["-bind", &addr.to_string(), "-cache"])
        .arg(roas)
        .args(["-checktime=false", "-metrics.addr", "", "-refresh", "1"])
        .args(["-rtr.refresh", "30", "-protocol", &protocol.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start stayrtr ({e}): run scripts/setup.sh"));
    Cache { child, addr }
}

/// One connection driven by the client.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(client: &mut Client, addr: SocketAddr) -> Conn {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("stayrtr at {addr} never listened: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        stream.write_all(&client.connected().encode()).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Runs until the next update (or fault), or panics after `within`.
    fn next(&mut self, client: &mut Client, within: Duration) -> Result<Update, Fault> {
        let deadline = Instant::now() + within;
        loop {
            while let Some((frame, n)) = decode(&self.buf).expect("the cache sends valid PDUs") {
                self.buf.drain(..n);
                for event in client.handle(frame)? {
                    match event {
                        Event::Send(f) => self.stream.write_all(&f.encode()).unwrap(),
                        Event::Update(u) => return Ok(u),
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no update from the cache within {within:?}"
            );
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the cache closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

fn vrp(p: &str, max_len: u8, asn: u32) -> Vrp {
    Vrp {
        prefix: p.parse().unwrap(),
        max_len,
        asn,
    }
}

#[test]
fn syncs_then_follows_a_changed_file_on_the_same_connection() {
    let dir = tempfile::tempdir().unwrap();
    let roas = dir.path().join("roas.json");
    write_roas(
        &roas,
        &[("192.0.2.0/24", 24, 65001), ("2001:db8::/32", 48, 65002)],
    );
    let cache = start_cache(&roas, 2);
    let mut client = Client::new();
    let mut conn = Conn::open(&mut client, cache.addr);
    let first = conn
        .next(&mut client, Duration::from_secs(10))
        .expect("no fault");
    assert!(first.reset);
    assert_eq!(
        first.announced,
        vec![
            vrp("192.0.2.0/24", 24, 65001),
            vrp("2001:db8::/32", 48, 65002)
        ]
    );
    assert_eq!(
        client.version(),
        1,
        "StayRTR speaks version 1 when asked for it"
    );
    let t = client.table();
    assert_eq!(
        t.validate(&"192.0.2.0/24".parse().unwrap(), Some(65001)),
        Validity::Valid
    );
    assert_eq!(
        t.validate(&"192.0.2.0/25".parse().unwrap(), Some(65001)),
        Validity::Invalid
    );
    assert_eq!(
        t.validate(&"2001:db8:1::/48".parse().unwrap(), Some(65009)),
        Validity::Invalid
    );
    assert_eq!(
        t.validate(&"198.51.100.0/24".parse().unwrap(), Some(65001)),
        Validity::NotFound
    );
    let serial = client.serial().unwrap();

    // A ROA added and one removed: the cache notifies, the client asks
    // for the delta on the same connection.
    write_roas(
        &roas,
        &[("192.0.2.0/24", 24, 65001), ("198.51.100.0/22", 24, 65003)],
    );
    let delta = conn
        .next(&mut client, Duration::from_secs(15))
        .expect("no fault");
    assert!(!delta.reset, "a delta, not a reset: {delta:?}");
    assert_eq!(delta.announced, vec![vrp("198.51.100.0/22", 24, 65003)]);
    assert_eq!(delta.withdrawn, vec![vrp("2001:db8::/32", 48, 65002)]);
    assert!(client.serial().unwrap() != serial);
    assert_eq!(
        client
            .table()
            .validate(&"198.51.100.0/24".parse().unwrap(), Some(65003)),
        Validity::Valid
    );

    // A new connection asks for what changed since its serial: nothing.
    drop(conn);
    client.disconnected();
    let mut conn = Conn::open(&mut client, cache.addr);
    let again = conn
        .next(&mut client, Duration::from_secs(10))
        .expect("no fault");
    assert_eq!(again, Update::default(), "an empty delta");
    assert_eq!(client.table().len(), 2);
}

#[test]
fn a_version_0_cache_is_reached_by_downgrading() {
    let dir = tempfile::tempdir().unwrap();
    let roas = dir.path().join("roas.json");
    write_roas(&roas, &[("203.0.113.0/24", 24, 65010)]);
    let cache = start_cache(&roas, 0);
    let mut client = Client::new();
    let mut conn = Conn::open(&mut client, cache.addr);
    let update = match conn.next(&mut client, Duration::from_secs(10)) {
        Ok(u) => u,
        Err(fault) => {
            // StayRTR refuses a version 1 query outright.
            assert!(fault.downgrade, "{fault:?}");
            drop(conn);
            client.disconnected();
            conn = Conn::open(&mut client, cache.addr);
            conn.next(&mut client, Duration::from_secs(10))
                .expect("no fault at version 0")
        }
    };
    assert_eq!(client.version(), 0);
    assert_eq!(update.announced, vec![vrp("203.0.113.0/24", 24, 65010)]);
}
