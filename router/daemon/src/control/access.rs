//! Who may ask what of the control socket. The socket file (mode 0660,
//! group `control.group`) keeps others from connecting at all; the daemon
//! checks again per request, from the peer's credentials as they were at
//! connect: the group may read, only root and the daemon's own user may
//! change anything ([`Request::access`] classes every request).

use std::io;
use std::path::Path;

use sluice_config::at::At;
use sluice_config::{Finding, Severity};
use sluice_control::{Access, Request};

/// The credentials of a control client, from SO_PEERCRED and SO_PEERGROUPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Who may read and who may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The daemon's effective uid: its user may change things, as root may.
    pub owner: u32,
    /// Members of this group may read: `control.group`, else the daemon's own.
    pub group: u32,
}

impl Policy {
    /// Ok, or why `who` may not make `request` (for the client and the log).
    pub fn check(&self, who: &Creds, request: &Request) -> Result<(), String> {
        let changer = who.uid == 0 || who.uid == self.owner;
        let reader = changer || who.gid == self.group || who.groups.contains(&self.group);
        match request.access() {
            Access::Change if changer => Ok(()),
            Access::Read if reader => Ok(()),
            Access::Change => Err(format!(
                "`{}` changes the router: only root or the daemon's user (uid {}) may; uid {} may read",
                name(request),
                self.owner,
                who.uid
            )),
            Access::Read => Err(format!(
                "uid {} is not in the control socket's group (gid {})",
                who.uid, self.group
            )),
        }
    }
}

/// The request's wire name (`reload`, `drain`, …).
fn name(request: &Request) -> String {
    serde_json::to_value(request)
        .ok()
        .and_then(|v| v["cmd"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The gid of unix group `name`, from the group database (`/etc/group`).
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    group_id_in(&std::fs::read_to_string(Path::new("/etc/group"))?, name)
}

fn group_id_in(db: &str, name: &str) -> io::Result<Option<u32>> {
    for line in db.lines() {
        let mut fields = line.split(':');
        if fields.next() != Some(name) {
            continue;
        }
        let gid = fields.nth(1).and_then(|g| g.parse().ok());
        return match gid {
            Some(g) => Ok(Some(g)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/etc/group: no gid on the line of `{name}`"),
            )),
        };
    }
    Ok(None)
}

/// `control.group` resolved, or a finding at its line naming what is wrong.
pub fn resolve_group(group: &At<String>) -> Result<u32, Box<Finding>> {
    let why = match group_id(group) {
        Ok(Some(gid)) => return Ok(gid),
        Ok(None) => format!("`group`: no unix group `{}` on this host", group.value),
        Err(e) => format!("`group`: cannot look up unix group `{}`: {e}", group.value),
    };
    Err(Box::new(
        Finding::new("CONFIG-VALUE", Severity::Error, group.pos, why)
            .help("control.group names a group in /etc/group; its members may run read commands"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: u32 = 990;
    const GROUP: u32 = 4242;

    fn policy() -> Policy {
        Policy {
            owner: OWNER,
            group: GROUP,
        }
    }

    fn who(uid: u32, gid: u32, groups: &[u32]) -> Creds {
        Creds {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    fn reads() -> Vec<Request> {
        vec![
            Request::Status,
            Request::ShowPeers,
            Request::DumpRib,
            Request::ShowRoutes {
                prefix: None,
                limit: 1,
                after: None,
                filters: Default::default(),
            },
        ]
    }

    fn changes() -> Vec<Request> {
        vec![
            Request::Reload {
                confirm_within_ms: None,
                force: false,
            },
            Request::Confirm,
            Request::Drain {
                uplinks: vec!["a".into()],
                all: false,
                dry_run: true,
                force: false,
                reason: None,
            },
            Request::Undrain { uplink: "a".into() },
        ]
    }

    #[test]
    fn root_and_the_owner_may_do_anything() {
        for uid in [0, OWNER] {
            for r in reads().iter().chain(&changes()) {
                assert_eq!(policy().check(&who(uid, 1, &[]), r), Ok(()), "{uid} {r:?}");
            }
        }
    }

    #[test]
    fn the_group_reads_and_may_not_change() {
        for member in [who(1000, GROUP, &[]), who(1000, 100, &[7, GROUP])] {
            for r in reads() {
                assert_eq!(policy().check(&member, &r), Ok(()), "{r:?}");
            }
            for r in changes() {
                let why = policy().check(&member, &r).unwrap_err();
                assert!(
                    why.contains("only root or the daemon's user (uid 990)")
                        && why.contains("uid 1000 may read"),
                    "{why}"
                );
            }
        }
        let why = policy()
            .check(&who(1000, GROUP, &[]), &changes()[0])
            .unwrap_err();
        assert!(why.starts_with("`reload` changes the router"), "{why}");
    }

    #[test]
    fn others_may_do_nothing() {
        let stranger = who(1000, 100, &[7]);
        for r in reads() {
            let why = policy().check(&stranger, &r).unwrap_err();
            assert!(why.contains("not in the control socket's group"), "{why}");
        }
        for r in changes() {
            assert!(policy().check(&stranger, &r).is_err(), "{r:?}");
        }
    }

    #[test]
    fn groups_are_found_by_name() {
        let db = "root:x:0:\nsluice:x:4242:alice,bob\nbroken:x::\n";
        assert_eq!(group_id_in(db, "sluice").unwrap(), Some(4242));
        assert_eq!(group_id_in(db, "root").unwrap(), Some(0));
        assert_eq!(group_id_in(db, "sluic").unwrap(), None);
        assert!(group_id_in(db, "broken").is_err());
        let root = At::unplaced("root".to_string());
        assert_eq!(resolve_group(&root).unwrap(), 0);
        let nope = At::unplaced("no-such-group-here".to_string());
        let f = resolve_group(&nope).unwrap_err();
        assert_eq!(f.rule, "CONFIG-VALUE");
        assert_eq!(
            f.message,
            "`group`: no unix group `no-such-group-here` on this host"
        );
    }
}
