//! Pinning: the data plane outlives the daemon (DESIGN principle 4).
//!
//! [`Dataplane::open`] loads the program with every map pinned by name in a
//! directory of a bpffs (`<dataplane.bpffs>/sluice/<instance>`): maps
//! already pinned there are reused with their content, the others are
//! created and pinned. [`Dataplane::attach_pinned`] attaches through an XDP
//! `bpf_link` pinned as `link_<ifname>` in the same directory; if that pin
//! exists the link is kept and only its program is swapped
//! (`bpf_link_update`, atomic: no packet sees no program). A process that
//! exits, crashes or is upgraded thus leaves the interfaces forwarding with
//! the last FIB, and the next one adopts the maps and the links.
//! [`unpin_all`] / [`Dataplane::detach_and_unpin`] are the clean stop.
//!
//! An upgrade that changes the map layout keeps forwarding too: pins of
//! another layout cannot be adopted, so [`Dataplane::open_beside`] loads
//! the new program with fresh maps pinned in `<pin dir>/next/` while the
//! old program goes on forwarding through the pinned links on its own
//! maps. Once the new maps hold the FIB, [`Dataplane::finish_upgrade`]
//! swaps the program on every pinned link (`bpf_link_update`: no packet
//! sees no program) and moves the new pins over the old ones (rename(2)
//! on a bpffs replaces the target atomically), removing what only the old
//! layout had.
//!
//! How aya 0.14 behaves, and why this module does what it does:
//!
//! * A map marked `LIBBPF_PIN_BY_NAME` in the object is pinned under
//!   `default_map_pin_directory`, or under `/sys/fs/bpf` when none is set:
//!   the C program therefore carries no pinning attribute (an unpinned
//!   [`Dataplane::load`] would otherwise pin in /sys/fs/bpf), and `open`
//!   names each map's pin path with `EbpfLoader::map_pin_path` instead.
//! * An existing pin is reused without any check of the map's type, key or
//!   value size or capacity: `open` compares every pinned map with
//!   [`layout::map::SPECS`] first and refuses a mismatch, naming the map.
//! * A pinned XDP link whose interface is gone is defunct: updating it
//!   fails (ENOLINK); `attach_pinned` then replaces the pin with a new link.

use std::io;
use std::path::{Path, PathBuf};

use aya::EbpfLoader;
use aya::maps::MapInfo;
use aya::programs::ProgramError;
use aya::programs::links::{FdLink, LinkError, PinnedLink};
use aya::programs::xdp::XdpLink;

use crate::attach::XdpMode;
use crate::layout::{self, map::Spec};
use crate::loader::{Dataplane, Error};

/// `statfs(2)`'s `f_type` of a bpffs.
pub const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// `BPF_F_RDONLY_PROG`.
const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// What [`Dataplane::open`] found in the pin directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adopted {
    /// Maps that were pinned already and are reused with their content.
    pub reused: Vec<&'static str>,
    /// Maps that were created (empty) and pinned.
    pub created: Vec<&'static str>,
}

impl Adopted {
    /// Whether any existing pin was found (a restart rather than a first
    /// start).
    pub fn any(&self) -> bool {
        !self.reused.is_empty()
    }

    /// Whether every map was reused (nothing of the layout is new).
    pub fn all(&self) -> bool {
        self.created.is_empty()
    }
}

/// What [`Dataplane::attach_pinned`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedAttachment {
    /// The interface.
    pub ifname: String,
    /// Its index in the calling thread's namespace.
    pub ifindex: u32,
    /// The link's pin.
    pub path: PathBuf,
    /// `true`: an existing link was kept and its program replaced
    /// atomically (its mode is the one it was made with); `false`: a new
    /// link was made and pinned.
    pub replaced: bool,
}

/// Where [`Dataplane::open_beside`] pins the new layout's maps.
fn next_dir(pin_dir: &Path) -> PathBuf {
    pin_dir.join("next")
}

/// Whether links are pinned in `pin_dir` (a program there may forward).
pub fn has_links(pin_dir: &Path) -> bool {
    std::fs::read_dir(pin_dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("link_"))
    })
}

/// The pin path of the link on `ifname`.
pub fn link_pin_path(pin_dir: &Path, ifname: &str) -> PathBuf {
    pin_dir.join(format!("link_{ifname}"))
}

/// Fails unless `dir`, or its nearest existing ancestor, is on a bpffs.
pub fn check_bpffs(dir: &Path) -> Result<(), Error> {
    let mut at = dir;
    while !at.exists() {
        at = at.parent().unwrap_or(Path::new("/"));
    }
    let magic = sys::fs_type(at).map_err(|source| Error::Pin {
        path: at.to_owned(),
        what: "statfs",
        source,
    })?;
    if magic == BPF_FS_MAGIC {
        Ok(())
    } else {
        Err(Error::NotBpffs {
            path: at.to_owned(),
            magic,
        })
    }
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Pin {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Compares a pinned map with the layout; `None` if it fits.
fn mismatch(info: &MapInfo, spec: &Spec) -> Option<String> {
    let map_type = info.map_type().map_or(u32::MAX, |t| t as u32);
    [
        ("type", map_type, spec.map_type),
        ("key size", info.key_size(), spec.key_size),
        ("value size", info.value_size(), spec.value_size),
        ("max entries", info.max_entries(), spec.max_entries),
        // The kernel adds BPF_F_RDONLY_PROG to a DEVMAP's flags itself.
        ("flags", info.map_flags() & !BPF_F_RDONLY_PROG, spec.flags),
    ]
    .into_iter()
    .find(|(_, found, want)| found != want)
    .map(|(what, found, want)| format!("{what} {found}, this program needs {want}"))
}

impl Dataplane {
    /// Loads the program with its maps pinned by name in `pin_dir` (created
    /// if missing; it must be on a bpffs): maps already pinned there are
    /// reused with their content, which is how a restarted daemon adopts
    /// the FIB and the counters; missing ones are created and pinned.
    ///
    /// Fails with [`Error::NotBpffs`] if `pin_dir` is not on a bpffs, and
    /// with [`Error::PinnedLayout`] if a pinned map does not fit this
    /// program's layout (pins of another version), before changing
    /// anything.
    pub fn open(pin_dir: &Path) -> Result<(Dataplane, Adopted), Error> {
        check_bpffs(pin_dir)?;
        std::fs::create_dir_all(pin_dir).map_err(io_err(pin_dir, "create directory"))?;
        let mut adopted = Adopted::default();
        let mut loader = EbpfLoader::new();
        for spec in &layout::map::SPECS {
            let path = pin_dir.join(spec.name);
            if path.exists() {
                let info = MapInfo::from_pin(&path).map_err(|e| Error::PinnedLayout {
                    map: spec.name,
                    path: path.clone(),
                    problem: format!("not a BPF map ({e})"),
                })?;
                if let Some(problem) = mismatch(&info, spec) {
                    return Err(Error::PinnedLayout {
                        map: spec.name,
                        path,
                        problem,
                    });
                }
                adopted.reused.push(spec.name);
            } else {
                adopted.created.push(spec.name);
            }
            loader.map_pin_path(spec.name, path);
        }
        // Some maps pinned and others not: pins of a layout without them
        // (an upgrade that added a map). The program would read a fresh,
        // empty one beside the adopted FIB, so that is another layout too.
        if let (Some(_), Some(&missing)) = (adopted.reused.first(), adopted.created.first()) {
            return Err(Error::PinnedLayout {
                map: missing,
                path: pin_dir.join(missing),
                problem: "not pinned beside the other maps (pins of another layout)".into(),
            });
        }
        let dp = Self::load_with(&mut loader)?;
        Ok((dp, adopted))
    }

    /// Loads the program beside pins of another layout (an upgrade): every
    /// map fresh, pinned in `<pin_dir>/next/` (what a crashed earlier
    /// attempt left there is removed first), nothing attached, the old
    /// pins and links untouched, so the old program keeps forwarding.
    /// Fill the maps, then [`Self::finish_upgrade`].
    pub fn open_beside(pin_dir: &Path) -> Result<Dataplane, Error> {
        check_bpffs(pin_dir)?;
        let next = next_dir(pin_dir);
        unpin_all(&next)?;
        std::fs::create_dir_all(&next).map_err(io_err(&next, "create directory"))?;
        let mut loader = EbpfLoader::new();
        for spec in &layout::map::SPECS {
            loader.map_pin_path(spec.name, next.join(spec.name));
        }
        Self::load_with(&mut loader)
    }

    /// Ends an upgrade begun with [`Self::open_beside`]: attaches through
    /// the pinned link of each of `ifnames` (replacing the old program
    /// atomically where a link is pinned, else attaching anew in `mode`),
    /// then moves the maps' pins from `<pin_dir>/next/` over the old ones
    /// and removes the old layout's other pins. Returns the attachments.
    pub fn finish_upgrade(
        &mut self,
        pin_dir: &Path,
        ifnames: &[&str],
        mode: XdpMode,
    ) -> Result<Vec<PinnedAttachment>, Error> {
        let mut done = Vec::new();
        for ifname in ifnames {
            done.push(self.attach_pinned(ifname, mode, pin_dir)?);
        }
        let next = next_dir(pin_dir);
        for name in layout::map::ALL {
            let (from, to) = (next.join(name), pin_dir.join(name));
            std::fs::rename(&from, &to).map_err(io_err(&from, "move pin"))?;
        }
        // Pins only the old layout had (maps it named otherwise).
        let entries = std::fs::read_dir(pin_dir).map_err(io_err(pin_dir, "read directory"))?;
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_file() && !name.starts_with("link_") && !layout::map::ALL.contains(&name) {
                std::fs::remove_file(&path).map_err(io_err(&path, "unpin"))?;
            }
        }
        std::fs::remove_dir(&next).map_err(io_err(&next, "remove directory"))?;
        Ok(done)
    }

    /// Attaches the program to `ifname` (resolved in the calling thread's
    /// namespace) through a link pinned at `<pin_dir>/link_<ifname>`: if
    /// that pin exists, the link is kept and its program atomically
    /// replaced by this one (`mode` is then ignored: the link keeps its
    /// own); otherwise a new link is attached in `mode` and pinned there.
    ///
    /// Either way the attachment survives this [`Dataplane`] and the
    /// process: only removing the pin ([`unpin_all`]) detaches it.
    pub fn attach_pinned(
        &mut self,
        ifname: &str,
        mode: XdpMode,
        pin_dir: &Path,
    ) -> Result<PinnedAttachment, Error> {
        let path = link_pin_path(pin_dir, ifname);
        let ifindex = crate::attach::ifindex(ifname)?;
        let program = self.program_mut()?;
        if path.exists() {
            let pinned = PinnedLink::from_pin(&path).map_err(|e| link_err(&path, e))?;
            let link = XdpLink::try_from(FdLink::from(pinned)).map_err(|e| link_err(&path, e))?;
            match program.attach_to_link(link) {
                Ok(_) => {
                    return Ok(PinnedAttachment {
                        ifname: ifname.to_owned(),
                        ifindex,
                        path,
                        replaced: true,
                    });
                }
                // The interface went away (and maybe came back): the link
                // is defunct. Replace the pin below.
                Err(ProgramError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::ENOLINK) =>
                {
                    std::fs::remove_file(&path).map_err(io_err(&path, "remove stale link"))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let id = program.attach_to_if_index(ifindex, mode)?;
        let link = program.take_link(id)?;
        let fd_link = FdLink::try_from(link).map_err(|e| link_err(&path, e))?;
        // Dropping the returned PinnedLink closes our fd; the pin holds the
        // link.
        fd_link.pin(&path).map_err(|e| Error::Pin {
            path: path.clone(),
            what: "pin link",
            source: io::Error::other(e),
        })?;
        Ok(PinnedAttachment {
            ifname: ifname.to_owned(),
            ifindex,
            path,
            replaced: false,
        })
    }

    /// The clean stop (`keep_on_exit: false`): closes this data plane, then
    /// [`unpin_all`], which detaches the pinned links and frees the maps.
    pub fn detach_and_unpin(self, pin_dir: &Path) -> Result<Vec<PathBuf>, Error> {
        drop(self);
        unpin_all(pin_dir)
    }
}

fn link_err(path: &Path, e: LinkError) -> Error {
    Error::Pin {
        path: path.to_owned(),
        what: "open pinned link",
        source: io::Error::other(e),
    }
}

/// Removes the pins in `pin_dir` that this crate makes (`link_*` and the
/// map names), then the directory if it is empty; returns the removed
/// paths. A link detaches once no process holds it any more (a
/// [`Dataplane`] that attached or adopted it holds it until dropped); the
/// maps are freed with the last program or fd using them. A missing
/// directory is not an error.
pub fn unpin_all(pin_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(pin_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(pin_dir, "read directory")(e)),
    };
    let mut removed = Vec::new();
    // Links first: the interfaces stop using the program before its maps
    // lose their pins.
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("link_") || layout::map::ALL.contains(&name)
        })
        .collect();
    paths.sort_by_key(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("link_"))
    });
    for path in paths {
        std::fs::remove_file(&path).map_err(io_err(&path, "unpin"))?;
        removed.push(path);
    }
    match std::fs::remove_dir(pin_dir) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
        Err(e) => return Err(io_err(pin_dir, "remove directory")(e)),
    }
    Ok(removed)
}

mod sys {
    //! statfs(2), to recognise a bpffs. The module's only `unsafe`.
    #![allow(unsafe_code)]

    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// The file system type (`f_type`) of the file system holding `path`.
    pub(super) fn fs_type(path: &Path) -> io::Result<i64> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
        // SAFETY: `c` is a NUL-terminated path that outlives the call; `buf`
        // is a writable statfs struct the kernel fills on success.
        let rc = unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: statfs returned 0, so it initialised `buf` (and it was
        // zeroed anyway).
        let st = unsafe { buf.assume_init() };
        #[allow(clippy::unnecessary_cast)] // f_type's width differs by arch
        Ok(st.f_type as i64)
    }
}
