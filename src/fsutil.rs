//! File writing that never leaves a half-written file behind, never
//! replaces what is not a regular file, and never overwrites a run's own
//! inputs.
//!
//! [`write_atomic`] writes a temporary file beside the target and renames it
//! over the target. The temporary file has an unpredictable name and is
//! created exclusively (`O_EXCL`: a planted symlink is never followed), with
//! the target's permissions (and, where the process may, its owner and
//! group) before the first byte is written. An output path that is a
//! symlink is written through: its final target is replaced, the link stays.
//! On every failure the temporary file is removed. SIGINT and SIGTERM never
//! end the process mid-write (the runner watches them from the start): an
//! interrupt noticed before the rename removes the temporary file instead.
//! SIGXFSZ is ignored so that a write past the file-size limit fails with
//! EFBIG (and is cleaned up) instead of killing the process.

use crate::error::ShownPath;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// How many symlinks are followed to find the real target (as Linux does).
const MAX_SYMLINKS: usize = 40;

/// Write `contents` to `path` atomically (see the module documentation).
/// The permissions of an existing target are kept; a new file is created
/// with the process's usual mode (0666 less the umask).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_like(path, contents, None)
}

/// [`write_atomic`]; a new file gets no wider permissions than `model`'s
/// (the input it was made from), so a private input gives a private output.
pub fn write_atomic_like(path: &Path, contents: &[u8], model: Option<&Path>) -> Result<()> {
    ignore_file_size_signal();
    let target = resolve_symlinks(path)?;
    let existing = regular_or_absent(&target, path)?;
    let mode = match &existing {
        Some(meta) => permission_bits(meta),
        None => model
            .and_then(|m| std::fs::metadata(m).ok())
            .map_or(0o666, |m| permission_bits(&m) & 0o666),
    };
    let (mut file, tmp_path) = create_temporary(&target, mode)?;
    let result = (|| -> Result<()> {
        keep_owner_and_mode(&file, existing.as_ref(), mode)
            .with_context(|| format!("{}: cannot set permissions", tmp_path.shown()))?;
        file.write_all(contents)
            .and_then(|_| file.sync_all())
            .map_err(|e| write_error(e, path, contents.len()))?;
        drop(file);
        if crate::cluster::runner::was_interrupted() {
            return Err(crate::error::Interrupted.into());
        }
        // The data is on disk before the rename, so after a crash the
        // target holds the old text or the new one, never half of either.
        // The folder is not synced: that would only make the new name
        // survive a crash (a re-run gives it back) and costs a disk flush.
        std::fs::rename(&tmp_path, &target)
            .with_context(|| format!("{}: cannot replace", path.shown()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// Refuse to write `output` when it is one of `inputs` (whatever the
/// spelling: `./`, symlinks, hard links) or exists and is not a regular
/// file. `inputs` pairs a description (`the input`, `the secret file`) with
/// a path. Checked before any work, so nothing is looked up or run in vain.
pub fn refuse_output(output: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let target = resolve_symlinks(output)?;
    regular_or_absent(&target, output)?;
    for (what, input) in inputs {
        if same_file(&target, input) {
            anyhow::bail!(
                "{}: the output file is {what} ({}); choose another with -o",
                output.shown(),
                input.shown()
            );
        }
    }
    Ok(())
}

/// Whether two paths name the same file: the same (device, inode) when both
/// exist, otherwise the same canonical path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
        }
    }
    match (canonical(a), canonical(b)) {
        (Some(ca), Some(cb)) => ca == cb,
        _ => a == b,
    }
}

/// The canonical form of a path whose last part may not exist yet.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(full) = path.canonicalize() {
        return Some(full);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// The file a path finally names: symlinks followed (also a dangling one,
/// whose target is then created), relative targets taken from the link's
/// folder.
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .with_context(|| format!("{}: cannot read the symlink", current.shown()))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    anyhow::bail!(
        "{}: too many levels of symbolic links; refusing to write",
        path.shown()
    )
}

/// The target's metadata when it is a regular file, `None` when it does not
/// exist; an error naming the kind of thing otherwise.
fn regular_or_absent(target: &Path, shown: &Path) -> Result<Option<std::fs::Metadata>> {
    let meta = match std::fs::metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot inspect", shown.shown())),
    };
    if meta.is_file() {
        return Ok(Some(meta));
    }
    anyhow::bail!(
        "{}: is {}, not a regular file; refusing to replace it (choose a file with -o)",
        shown.shown(),
        kind_of(&meta)
    )
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(unix)]
fn permission_bits(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permission_bits(_meta: &std::fs::Metadata) -> u32 {
    0o666
}

/// The folder `path` is in (`.` for a bare file name, whose parent is "").
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Create `.NAME.binderctl-RANDOM.tmp` beside `target`, exclusively, with
/// `mode` (before the umask; [`keep_owner_and_mode`] sets it exactly).
fn create_temporary(target: &Path, mode: u32) -> Result<(File, PathBuf)> {
    let dir = folder_of(target);
    let file_name = target
        .file_name()
        .with_context(|| format!("{}: not a file path", target.shown()))?;
    let mut last_error = None;
    for _ in 0..16 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".binderctl-{:016x}.tmp", unpredictable()));
        let tmp_path = dir.join(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode & 0o777);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match options.open(&tmp_path) {
            Ok(file) => return Ok((file, tmp_path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "{}: cannot create a temporary file",
                        dir.join(file_name).shown()
                    )
                })
            }
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("name collision")))
        .with_context(|| format!("{}: cannot create a temporary file", target.shown()))
}

/// 64 bits no other process can guess: the standard library's randomly
/// keyed hasher, fed the time and a counter.
fn unpredictable() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// The existing target's owner and group (when the process may set them;
/// only root may give a file away), then exactly `mode`.
fn keep_owner_and_mode(
    file: &File,
    existing: Option<&std::fs::Metadata>,
    mode: u32,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if let Some(meta) = existing {
            if let Ok(own) = file.metadata() {
                if (own.uid(), own.gid()) != (meta.uid(), meta.gid()) {
                    // Not permitted is fine: the group may still be ours to set.
                    if std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())).is_err()
                    {
                        let _ = std::os::unix::fs::fchown(file, None, Some(meta.gid()));
                    }
                }
            }
        }
        // After chown, which may clear set-id bits.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (file, existing, mode);
    Ok(())
}

/// The error for a failed write, plain about the file-size limit.
fn write_error(err: std::io::Error, path: &Path, len: usize) -> anyhow::Error {
    const EFBIG: i32 = 27;
    if err.raw_os_error() == Some(EFBIG) {
        return anyhow::anyhow!(
            "{}: cannot write {len} bytes: the file-size limit (`ulimit -f`) is smaller; \
             nothing written, the previous file is unchanged",
            path.shown()
        );
    }
    anyhow::Error::new(err).context(format!(
        "{}: cannot write; the previous file is unchanged",
        path.shown()
    ))
}

/// Ignore SIGXFSZ, once: a write past the file-size limit then fails with
/// EFBIG and is cleaned up, instead of killing the process mid-write.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: setting a signal's disposition to SIG_IGN installs no
            // handler code and is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        std::fs::write(&target, "old\n").unwrap();
        write_atomic(&target, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(names(dir.path()), ["out.yaml"]);
    }

    #[test]
    fn failure_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-dir").join("out.yaml");
        let err = write_atomic(&target, b"new\n").unwrap_err();
        assert!(format!("{err:#}").contains("missing-dir"), "{err:#}");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_permissions_of_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        std::fs::write(&target, "old\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&target, b"new\n").unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_no_wider_than_its_model() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("binder.yaml");
        std::fs::write(&model, "a: 1\n").unwrap();
        std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o600)).unwrap();
        let target = dir.path().join("_binder.yaml");
        write_atomic_like(&target, b"a: 1\n", Some(&model)).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_output_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real").join("kubelet");
        std::fs::write(&real, "old\n").unwrap();
        let link = dir.path().join("kubelet");
        std::os::unix::fs::symlink("real/kubelet", &link).unwrap();
        write_atomic(&link, b"new\n").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        assert_eq!(names(&dir.path().join("real")), ["kubelet"]);
        // A dangling link gets its target created.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("real/new.yaml", &dangling).unwrap();
        write_atomic(&dangling, b"x\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real/new.yaml")).unwrap(),
            "x\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_directories_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let device = test_device(dir.path());
        for (path, kind) in [
            (device.as_path(), "a device"),
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
        ] {
            let err = format!("{:#}", write_atomic(path, b"x\n").unwrap_err());
            assert!(err.contains(kind) && err.contains("refusing"), "{err}");
            let err = format!("{:#}", refuse_output(path, &[]).unwrap_err());
            assert!(err.contains(kind), "{err}");
        }
        let mut expected = vec!["fifo".to_string()];
        if device.starts_with(dir.path()) {
            expected.insert(0, "device".into());
        }
        assert_eq!(names(dir.path()), expected);
    }

    /// A character device that is safe to aim at: as root (who could
    /// replace /dev/null if the check were broken) a null device made in
    /// `dir`; otherwise /dev/null, which only root may replace.
    #[cfg(unix)]
    fn test_device(dir: &Path) -> PathBuf {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return PathBuf::from("/dev/null");
        }
        let device = dir.join("device");
        let made = std::process::Command::new("mknod")
            .args([device.as_os_str(), "c".as_ref(), "1".as_ref(), "3".as_ref()])
            .status()
            .unwrap();
        assert!(made.success(), "mknod");
        device
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_file_at_a_temporary_name_is_never_followed() {
        // The name is unpredictable, and creation exclusive: a symlink
        // planted at the old predictable name stays untouched.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        let planted = dir
            .path()
            .join(format!(".out.yaml.binderctl-{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&dir.path().join("out.yaml"), b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        let a = unpredictable();
        assert_ne!(a, unpredictable());
    }

    #[cfg(unix)]
    #[test]
    fn inputs_are_recognised_whatever_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("secret.yaml");
        std::fs::write(&input, "x\n").unwrap();
        let hard = dir.path().join("hard.yaml");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.path().join("soft.yaml");
        std::os::unix::fs::symlink("secret.yaml", &soft).unwrap();
        let dotted = dir.path().join(".").join("secret.yaml");
        for output in [&input, &hard, &soft, &dotted] {
            let err = refuse_output(output, &[("the secret file", &input)]).unwrap_err();
            assert!(
                err.to_string()
                    .contains("the output file is the secret file"),
                "{err}"
            );
        }
        let other = dir.path().join("_binder.yaml");
        assert!(refuse_output(&other, &[("the secret file", &input)]).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn owner_and_group_of_an_existing_target_are_kept_where_allowed() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kubelet");
        std::fs::write(&target, "old\n").unwrap();
        // Only root may give a file away; otherwise the owner is ours anyway.
        let (uid, gid) = match std::os::unix::fs::chown(&target, Some(4242), Some(4243)) {
            Ok(()) => (4242, 4243),
            Err(_) => {
                let meta = std::fs::metadata(&target).unwrap();
                (meta.uid(), meta.gid())
            }
        };
        write_atomic(&target, b"new\n").unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    }
}
