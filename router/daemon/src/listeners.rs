//! The BGP listening sockets, one per family, and what the kernel checks
//! on them before it hands us a connection: the TCP-MD5 key of every
//! configured peer (RFC 2385), so that an inbound connection from a peer
//! with a key is signed from its first segment and one without a
//! signature is never accepted; and GTSM's minimum TTL (RFC 5082) where
//! every peer of the family uses it (the option is per socket). Accepted
//! connections then get their own peer's minimum TTL at once, so a
//! far-away sender cannot get past the handshake.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use sluice_bgp::sockopt;
use sluice_config::Config;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::events::Events;
use crate::routing::{self, peers};

#[derive(Debug, Default)]
pub struct Listeners {
    sockets: Vec<Arc<TcpListener>>,
    /// Peers whose key is set on the listening sockets.
    keyed: HashSet<IpAddr>,
}

impl Listeners {
    /// Binds port 179 for IPv4 and IPv6; a family that cannot be bound is
    /// an event (sessions of it are then only opened from here).
    pub fn bind(events: &mut Events) -> Listeners {
        let mut sockets = Vec::new();
        for addr in [
            SocketAddr::from(([0, 0, 0, 0], sluice_bgp::session::PORT)),
            SocketAddr::from(([0u16; 8], sluice_bgp::session::PORT)),
        ] {
            let bound = (|| {
                let socket = if addr.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.set_reuseaddr(true)?;
                if addr.is_ipv6() {
                    socket2::SockRef::from(&socket).set_only_v6(true)?;
                }
                socket.bind(addr)?;
                socket.listen(128)
            })();
            match bound {
                Ok(listener) => sockets.push(Arc::new(listener)),
                Err(e) => events.warn(
                    "bgp-listen",
                    format!(
                        "cannot listen for BGP on {addr}: {e}; sessions will only be opened from here"
                    ),
                ),
            }
        }
        Listeners {
            sockets,
            keyed: HashSet::new(),
        }
    }

    /// Accepts connections and hands each to its peer's task.
    pub fn spawn(&self, directory: &routing::Directory) -> Vec<JoinHandle<()>> {
        self.sockets
            .iter()
            .map(|l| {
                let dir = directory.clone();
                tokio::spawn(sluice_bgp::session::listen(l.clone(), move |from| {
                    dir.read().ok()?.get(&from).cloned()
                }))
            })
            .collect()
    }

    /// Puts `config`'s keys and minimum TTLs on the sockets and takes off
    /// those of peers it no longer has. Every key is read before any is
    /// set: a password file that cannot be used changes nothing.
    pub fn secure(&mut self, config: &Config) -> Result<(), String> {
        let keys = peers::keys(config)?;
        let sessions = peers::sessions(config, false);
        let now: HashSet<IpAddr> = keys.iter().map(|(a, _)| *a).collect();
        for socket in &self.sockets {
            let v4 = socket.local_addr().is_ok_and(|a| a.is_ipv4());
            let family = |a: &IpAddr| a.is_ipv4() == v4;
            for (addr, key) in keys.iter().filter(|(a, _)| family(a)) {
                sockopt::set_md5(socket.as_ref(), *addr, key).map_err(|e| {
                    format!("TCP-MD5 key of peer {addr} on the BGP listening socket: {e}")
                })?;
            }
            for addr in self.keyed.iter().filter(|a| family(a) && !now.contains(a)) {
                sockopt::set_md5(socket.as_ref(), *addr, &[]).map_err(|e| {
                    format!(
                        "removing the TCP-MD5 key of peer {addr} from the listening socket: {e}"
                    )
                })?;
            }
            // The lowest minimum of the family's peers, if every one has one.
            let mins: Vec<Option<u8>> = sessions
                .iter()
                .filter(|s| family(&s.settings.address))
                .map(|s| s.settings.min_ttl)
                .collect();
            let min = if !mins.is_empty() && mins.iter().all(Option::is_some) {
                mins.into_iter().flatten().min().unwrap_or(0)
            } else {
                0
            };
            let any: IpAddr = if v4 {
                IpAddr::from([0, 0, 0, 0])
            } else {
                IpAddr::from([0u16; 8])
            };
            sockopt::set_min_ttl(socket.as_ref(), any, min)
                .map_err(|e| format!("GTSM minimum TTL {min} on the BGP listening socket: {e}"))?;
        }
        self.keyed = now;
        Ok(())
    }
}
