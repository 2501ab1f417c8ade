//! Disk space: containerd's filesystem here, and each node's from the
//! kubelet's stats summary.

use crate::error::ShownPath;
use std::path::Path;

use crate::ops::nodes::disk::NodeFs;
use crate::ops::nodes::disk::{self, NodeDisk};

use crate::cluster::tools::ToolFlavor;
use crate::output::{self};

use super::model::*;

/// Every Ready node's image and node filesystems below
/// [`disk::DISK_WARN_PERCENT`] used, from the kubelets' stats
/// summaries; a node whose summary cannot be read is named too.
pub(crate) fn node_disk_check(
    stats: Option<&[(String, std::result::Result<NodeFs, String>)]>,
) -> Check {
    const NAME: &str = "node-disk";
    let Some(stats) = stats else {
        return Check::skip(NAME, "unknown: the nodes could not be listed");
    };
    if stats.is_empty() {
        return Check::skip(NAME, "no node is Ready");
    }
    let mut problems = Vec::new();
    let mut disks = Vec::new();
    for (name, result) in stats {
        match result {
            Ok((image_fs, node_fs)) => disks.push(NodeDisk {
                name: name.clone(),
                image_fs: *image_fs,
                node_fs: *node_fs,
                error: None,
            }),
            Err(e) => problems.push(format!("node {name}: cannot read its disk usage: {e}")),
        }
    }
    problems.extend(disk::disk_warnings(&disks));
    if problems.is_empty() {
        return Check::ok(
            NAME,
            format!(
                "{} below {}% used",
                output::plural(disks.len(), "node", "nodes"),
                disk::DISK_WARN_PERCENT
            ),
        );
    }
    Check::warn(
        NAME,
        problems.join("; "),
        "binderctl nodes disk shows every node's image and node filesystems",
    )
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and stats points at
    // writable memory of the right size; statvfs fills it on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between systems
    Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// ok, warn or fail for `free` bytes left.
pub fn disk_status(free: u64) -> Status {
    if free < FAIL_FREE_BYTES {
        Status::Fail
    } else if free < WARN_FREE_BYTES {
        Status::Warn
    } else {
        Status::Ok
    }
}

pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

pub(crate) fn disk_check(local: &Local) -> Check {
    const NAME: &str = "containerd-disk";
    let relative = match local.flavor {
        ToolFlavor::Microk8s => MICROK8S_CONTAINERD_ROOT,
        ToolFlavor::Plain => PLAIN_CONTAINERD_ROOT,
    };
    let path = local.system(relative);
    let free = match free_bytes(&path) {
        Ok(free) => free,
        Err(e) if local.flavor == ToolFlavor::Plain => {
            return Check::skip(NAME, format!("{}: {e}", path.shown()))
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{}: {e}", path.shown()),
                "run doctor on a MicroK8s node",
            )
        }
    };
    free_space_check(
        free,
        format!("{} free on {}", gib(free), path.shown()),
        "binderctl images rm OLD-BUILDS (on each node), or give the folder more space",
    )
}

/// containerd-disk's verdict on `free` bytes, said with `message`.
pub(crate) fn free_space_check(free: u64, message: String, fix: impl Into<String>) -> Check {
    const NAME: &str = "containerd-disk";
    match disk_status(free) {
        Status::Ok => Check::ok(NAME, message),
        Status::Warn => Check::warn(NAME, format!("only {message}"), fix),
        _ => Check::fail(
            NAME,
            format!("only {message}: image pulls and builds will fail"),
            fix,
        ),
    }
}

/// containerd's disk on another node: its image filesystem's free space
/// from the stats summary doctor already read (the same filesystem as
/// containerd's root, and no privilege needed).
pub(crate) fn stats_disk_check(
    node: &str,
    stats: Option<&std::result::Result<NodeFs, String>>,
) -> Check {
    const NAME: &str = "containerd-disk";
    let check = match stats {
        Some(Ok((Some(image_fs), _))) => free_space_check(
            image_fs.available_bytes,
            format!(
                "{} free on its image filesystem",
                gib(image_fs.available_bytes)
            ),
            format!("binderctl images rm OLD-BUILDS --node {node}, or give it more space"),
        ),
        Some(Ok((None, _))) => Check::skip(NAME, "its kubelet reports no image filesystem"),
        Some(Err(e)) => Check::skip(NAME, format!("unknown: its stats summary: {e}")),
        None => Check::skip(NAME, "unknown: its stats summary was not read"),
    };
    check.on(Some(node))
}
