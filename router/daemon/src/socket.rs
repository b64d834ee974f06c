//! Claiming the control socket path: refuse when a live daemon holds it,
//! clean a stale one, and never delete a file that is not a socket.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another sluice daemon is already serving {}", .0.display())]
    InUse(PathBuf),
    #[error("{} exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    #[error("cannot prepare control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Removes the control socket's path when dropped, if the path still names
/// this socket (a successor may have replaced it).
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    inode: u64,
}

impl ControlSocket {
    /// Binds `path`, mode 0660, in group `group` (else the daemon's own).
    pub fn bind(
        path: &Path,
        group: Option<u32>,
    ) -> Result<(UnixListener, ControlSocket), SocketError> {
        let io_err = |source| SocketError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(SocketError::NotASocket(path.to_path_buf()));
            }
            Ok(_) => match StdUnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.to_path_buf())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "removing stale control socket");
                    std::fs::remove_file(path).map_err(io_err)?;
                }
                Err(e) => return Err(io_err(e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(io_err)?;
        // Only the socket's group may connect (and then read: changes need
        // root or the daemon's user, see `control::access`).
        if group.is_some() {
            std::os::unix::fs::chown(path, None, group).map_err(io_err)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io_err)?;
        let inode = std::fs::metadata(path).map_err(io_err)?.ino();
        Ok((
            listener,
            ControlSocket {
                path: path.to_path_buf(),
                inode,
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn live_is_refused_stale_is_replaced_and_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/sluice.sock");
        // Root may give the socket any group; others only one of theirs.
        let group = match crate::control::own_ids() {
            (0, _) => 65534,
            (_, gid) => gid,
        };
        let (_listener, first) = ControlSocket::bind(&path, Some(group)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(meta.gid(), group);
        assert!(matches!(
            ControlSocket::bind(&path, None),
            Err(SocketError::InUse(_))
        ));

        drop(first);
        assert!(!path.exists(), "drop removes the socket");

        // A crashed daemon leaves a socket file nobody listens on: stale.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let second = ControlSocket::bind(&path, None).unwrap();
        drop(second);
        assert!(!path.exists(), "drop removes the socket");

        std::fs::write(&path, "precious").unwrap();
        assert!(matches!(
            ControlSocket::bind(&path, None),
            Err(SocketError::NotASocket(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
