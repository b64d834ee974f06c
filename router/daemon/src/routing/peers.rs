//! The BGP sessions a config asks for: uplink peers and neighbours, with
//! the settings their tasks need.

use std::net::IpAddr;
use std::time::Duration;

use sluice_bgp::limits::Limits;
use sluice_bgp::negotiate::Local;
use sluice_bgp::session::{PORT, Settings};
use sluice_config::Config;
use sluice_config::model::MaxPrefix;
use sluice_config::values::PolicyRef;

/// Which part of the config a session comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `uplinks[i]`.
    Uplink(usize),
    /// `neighbors[i]`.
    Neighbor(usize),
}

/// One configured session and its policies.
#[derive(Clone, Debug)]
pub struct Configured {
    pub role: Role,
    pub name: String,
    pub settings: Settings,
    pub import: Option<PolicyRef>,
    pub export: Option<PolicyRef>,
    pub local_pref: Option<u32>,
    pub max_prefix: Option<MaxPrefix>,
    /// Unknown optional transitive attributes are not exported (uplinks
    /// only ever get `announce`, which has none).
    pub strip_unknown: bool,
}

impl Configured {
    pub fn ebgp(&self) -> bool {
        self.settings.ebgp
    }

    /// The export policy in force: the configured one, else the default
    /// of the config contract (uplinks: announce; iBGP neighbours: the
    /// default route; eBGP neighbours: nothing, RFC 8212).
    pub fn export_policy(&self) -> Option<PolicyRef> {
        self.export.clone().or(match self.role {
            Role::Uplink(_) => Some(PolicyRef::Announce),
            Role::Neighbor(_) if !self.ebgp() => Some(PolicyRef::DefaultOnly),
            Role::Neighbor(_) => None,
        })
    }
}

/// Seconds a peer should keep our routes while we restart.
pub const RESTART_TIME: u16 = 120;

/// Every session of `config`; `restarting` sets the graceful-restart R bit.
pub fn sessions(config: &Config, restarting: bool) -> Vec<Configured> {
    let asn = config.router.asn.value;
    let router_id = config.router.id.value;
    let send_hold = config.router.send_hold_time.as_ref().map(|d| d.value.0);
    let limits = Limits {
        max_as_path: config.router.max_as_path_length.value as usize,
        max_attributes: config.router.max_path_attributes.value as usize,
    };
    let settings = |name: String,
                    address: IpAddr,
                    peer_asn: u32,
                    multihop: Option<u8>,
                    ttl_security: bool,
                    passive: bool,
                    md5: Option<Vec<u8>>| {
        let ebgp = peer_asn != asn;
        let ttl = if ttl_security {
            255
        } else {
            multihop.unwrap_or(if ebgp { 1 } else { 64 })
        };
        Settings {
            name,
            address,
            port: PORT,
            local: Local {
                asn,
                router_id,
                peer_asn,
                hold_time: 90,
                graceful_restart: Some((RESTART_TIME, restarting)),
            },
            ebgp,
            passive,
            md5,
            ttl,
            min_ttl: ttl_security.then(|| 255 - multihop.unwrap_or(1) + 1),
            connect_retry: Duration::from_secs(3),
            send_hold,
            limits,
        }
    };
    let mut out = Vec::new();
    for (i, u) in config.uplinks.iter().enumerate() {
        for p in &u.peer.0 {
            let name = if u.peer.0.len() == 1 {
                u.name.value.clone()
            } else {
                format!("{}/{}", u.name.value, p.address.value)
            };
            out.push(Configured {
                role: Role::Uplink(i),
                settings: settings(
                    name.clone(),
                    p.address.value,
                    p.asn.value,
                    p.multihop.as_ref().map(|m| m.value),
                    p.ttl_security,
                    p.passive,
                    read_key(p.password_file.as_ref().map(|f| f.value.as_path())),
                ),
                name,
                import: u.import.as_ref().map(|r| r.value.clone()),
                export: u.export.as_ref().map(|r| r.value.clone()),
                local_pref: u.local_pref.as_ref().map(|l| l.value),
                max_prefix: u.max_prefix.as_ref().map(|m| m.value.clone()),
                strip_unknown: true,
            });
        }
    }
    for (i, n) in config.neighbors.iter().enumerate() {
        let name = n
            .description
            .clone()
            .unwrap_or_else(|| n.address.value.to_string());
        out.push(Configured {
            role: Role::Neighbor(i),
            settings: settings(
                name.clone(),
                n.address.value,
                n.asn.value,
                n.multihop.as_ref().map(|m| m.value),
                false,
                n.passive,
                read_key(n.password_file.as_ref().map(|f| f.value.as_path())),
            ),
            name,
            import: n.import.as_ref().map(|r| r.value.clone()),
            export: n.export.as_ref().map(|r| r.value.clone()),
            local_pref: None,
            max_prefix: n.max_prefix.as_ref().map(|m| m.value.clone()),
            strip_unknown: n.strip_unknown_attributes,
        });
    }
    out
}

/// The longest key TCP-MD5 takes (linux/tcp.h).
const MD5_MAX_KEY: usize = 80;

/// Every session's TCP-MD5 key, read strictly: a password file that
/// cannot be read, is empty or holds more than 80 octets is an error that
/// names the file and its config line (the daemon does not start, a reload
/// is refused), never a session that runs unsigned.
pub fn keys(config: &Config) -> Result<Vec<(IpAddr, Vec<u8>)>, String> {
    let uplinks = config.uplinks.iter().flat_map(|u| {
        u.peer
            .0
            .iter()
            .map(|p| (p.address.value, p.password_file.as_ref()))
    });
    let neighbours = config
        .neighbors
        .iter()
        .map(|n| (n.address.value, n.password_file.as_ref()));
    let mut out = Vec::new();
    for (address, file) in uplinks.chain(neighbours) {
        let Some(file) = file else { continue };
        let at = format!(
            "password_file {} (line {}, peer {address})",
            file.value.display(),
            file.pos.line
        );
        let mut key = std::fs::read(&file.value).map_err(|e| format!("cannot read {at}: {e}"))?;
        while key.last().is_some_and(|b| b.is_ascii_whitespace()) {
            key.pop();
        }
        if key.is_empty() {
            return Err(format!(
                "{at} is empty: the session would run without TCP-MD5"
            ));
        }
        if key.len() > MD5_MAX_KEY {
            return Err(format!(
                "{at} holds {} octets; TCP-MD5 keys are at most {MD5_MAX_KEY}",
                key.len()
            ));
        }
        out.push((address, key));
    }
    Ok(out)
}

/// The TCP-MD5 key from `password_file`, trailing newline removed. An
/// unreadable file leaves the session unsigned and says so in the log.
fn read_key(path: Option<&std::path::Path>) -> Option<Vec<u8>> {
    let path = path?;
    match std::fs::read(path) {
        Ok(mut key) => {
            while key.last().is_some_and(|b| b.is_ascii_whitespace()) {
                key.pop();
            }
            Some(key)
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot read TCP-MD5 password file; the session will not come up");
            Some(b"unreadable-password-file".to_vec())
        }
    }
}
