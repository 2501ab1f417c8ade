//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Write `contents` to `path` atomically: a temporary file in the same
/// folder, flushed to disk, then renamed over the target. Readers see the old
/// file or the new one, never a mix; on error the old file is untouched.
/// The permissions of an existing target are kept.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".binderctl-{}.tmp", std::process::id()));
    let tmp_path = dir.join(tmp_name);

    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&tmp_path)
            .with_context(|| format!("{}: cannot create temporary file", tmp_path.display()))?;
        file.write_all(contents)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("{}: cannot write", tmp_path.display()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp_path, meta.permissions())
                .with_context(|| format!("{}: cannot set permissions", tmp_path.display()))?;
        }
        std::fs::rename(&tmp_path, path)
            .with_context(|| format!("{}: cannot replace", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        std::fs::write(&target, "old\n").unwrap();
        write_atomic(&target, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.yaml")]);
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
}
