//! Attaching the loaded program to interfaces, and doing things inside a
//! network namespace.
//!
//! [`Dataplane::attach`] attaches the program to one interface in one
//! [`XdpMode`] and returns an [`Attachment`] that detaches it when dropped.
//! [`in_netns`] runs a closure on a thread that has joined a named network
//! namespace, for the router's namespace in tests and deployments that put
//! the forwarding plane in one.
//!
//! Interface names and ifindexes mean something only in a network
//! namespace: the name given to [`Dataplane::attach`] is resolved in the
//! calling thread's namespace, and so are the ifindexes written to the
//! `DEVMAP` by [`Dataplane::add_tx_port`]. Do both on the same side of
//! [`in_netns`]. Loading the program and writing the other maps does not
//! depend on the namespace.
//!
//! Nothing here pins anything: dropping the [`Attachment`] detaches. For
//! an attachment that outlives the process see
//! [`Dataplane::attach_pinned`].

use std::fs::File;
use std::io;
use std::path::Path;

use aya::programs::ProgramError;
use aya::programs::xdp::XdpLink;

pub use aya::programs::XdpMode;

use crate::loader::{Dataplane, Error};

/// Where iproute2 keeps named network namespaces (`ip netns add NAME`).
pub const NETNS_DIR: &str = "/run/netns";

/// The program attached to one interface; dropping it detaches the program
/// from the interface.
///
/// It holds its own reference to the program, so it may outlive the
/// [`Dataplane`] it came from (the program and its maps then stay in the
/// kernel until it is dropped).
///
/// On kernels with XDP `bpf_link`s (Linux ≥ 5.9) the attachment is such a
/// link and detaching closes it, which works from any thread and any
/// namespace, and which the kernel also does itself when the interface
/// disappears (say, with its namespace). On older kernels aya falls back to
/// netlink, and detaching then acts on the ifindex in the namespace of the
/// thread that drops the attachment.
#[derive(Debug)]
pub struct Attachment {
    link: XdpLink,
    ifname: String,
    ifindex: u32,
    mode: XdpMode,
}

impl Attachment {
    /// The interface name given to [`Dataplane::attach`].
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface's index in the namespace it was attached in (what
    /// next hops and [`Dataplane::add_tx_port`] take).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The mode it was attached in.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Detaches now, reporting an error (dropping detaches too, silently).
    pub fn detach(self) -> Result<(), Error> {
        aya::programs::Link::detach(self.link)?;
        Ok(())
    }

    /// The aya link, e.g. to pin it (`aya::programs::links::FdLink::try_from`,
    /// then `pin`); the caller then owns the attachment's lifetime.
    pub fn into_link(self) -> XdpLink {
        self.link
    }
}

impl Dataplane {
    /// Attaches the program to interface `ifname` (resolved in the calling
    /// thread's network namespace) in `mode`: [`XdpMode::Driver`] (native,
    /// in the driver; veth supports it), [`XdpMode::Skb`] (generic, in the
    /// stack, works on any interface but slower) or [`XdpMode::Default`]
    /// (the kernel picks). The same program may be attached to several
    /// interfaces, each with its own [`Attachment`].
    pub fn attach(&mut self, ifname: &str, mode: XdpMode) -> Result<Attachment, Error> {
        let ifindex = ifindex(ifname)?;
        let program = self.program_mut()?;
        let id = program.attach_to_if_index(ifindex, mode)?;
        let link = program.take_link(id)?;
        Ok(Attachment {
            link,
            ifname: ifname.to_owned(),
            ifindex,
            mode,
        })
    }
}

/// The index of interface `ifname` in the calling thread's namespace.
pub fn ifindex(ifname: &str) -> Result<u32, Error> {
    sys::if_nametoindex(ifname).ok_or_else(|| {
        Error::Program(ProgramError::UnknownInterface {
            name: ifname.to_owned(),
        })
    })
}

/// The Ethernet address of interface `ifname` in the calling thread's
/// namespace (what its [`crate::layout::Iface`] entry needs).
pub fn mac(ifname: &str) -> io::Result<[u8; 6]> {
    sys::hw_addr(ifname)
}

/// Runs `f` on a new thread that has joined the network namespace `name`
/// (the file `/run/netns/NAME`, as `ip netns add` makes it), waits for it
/// and returns its result. Only the network namespace changes: the mounts
/// (e.g. a bpffs for pinning) stay the caller's, unlike with
/// `ip netns exec`, which mounts a fresh `/sys`.
///
/// Sockets, interface names and ifindexes that `f` uses belong to that
/// namespace. `f` may borrow from the caller (e.g. `&mut Dataplane`); a
/// panic in `f` is resumed in the caller. Fails if the namespace cannot be
/// opened or joined.
pub fn in_netns<T, F>(name: &str, f: F) -> io::Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    in_netns_at(&Path::new(NETNS_DIR).join(name), f)
}

/// [`in_netns`] for a namespace file anywhere, such as
/// `/proc/PID/ns/net`.
pub fn in_netns_at<T, F>(path: &Path, f: F) -> io::Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let ns = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            sys::setns_net(&ns)
                .map_err(|e| io::Error::new(e.kind(), format!("setns({}): {e}", path.display())))?;
            Ok(f())
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

mod sys {
    //! The libc calls of this module. Only place in it with `unsafe`.
    #![allow(unsafe_code)]

    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// The index of interface `name` in the calling thread's network
    /// namespace; `None` if there is no such interface.
    pub(super) fn if_nametoindex(name: &str) -> Option<u32> {
        let name = CString::new(name).ok()?;
        // SAFETY: `name` is a valid NUL-terminated string that outlives the
        // call; the function only reads it.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        (index != 0).then_some(index)
    }

    /// SIOCGIFHWADDR on a socket of the calling thread's namespace (sysfs
    /// would show the namespace it was mounted in).
    pub(super) fn hw_addr(name: &str) -> io::Result<[u8; 6]> {
        use std::os::fd::{FromRawFd, OwnedFd};
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name",
            ));
        }
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero ifreq is valid; the name fits with its NUL.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of the
        // ifreq we own, for the duration of the call.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel filled the ifru_hwaddr member.
        let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(data) {
            *d = s as u8;
        }
        Ok(mac)
    }

    /// Moves the calling thread into the network namespace `ns` refers to.
    pub(super) fn setns_net(ns: &File) -> io::Result<()> {
        // SAFETY: setns(2) on a descriptor that stays open for the call; it
        // touches no memory of ours and changes only the calling thread's
        // network namespace (allowed in a multi-threaded process).
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
