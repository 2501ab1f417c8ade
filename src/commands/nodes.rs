//! `binderctl nodes`: list, add and remove nodes; reserve resources for
//! system daemons in MicroK8s' kubelet arguments file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{GlobalArgs, NodesCmd, ToolFlavor};
use crate::error::Outcome;
use crate::kubelet_args::{self, Reserved};

pub async fn run(global: &GlobalArgs, cmd: &NodesCmd) -> Result<Outcome> {
    match cmd {
        NodesCmd::Reserve {
            cpu,
            memory,
            ephemeral_storage,
            kubelet_args,
            dry_run,
        } => {
            let reserved = Reserved::new(cpu, memory, ephemeral_storage)?;
            let mut out = std::io::stdout().lock();
            reserve(global.tools, &reserved, kubelet_args, *dry_run, &mut out)
        }
        _ => anyhow::bail!("this `binderctl nodes` subcommand is not implemented yet"),
    }
}

/// Set `--kube-reserved` and `--system-reserved` in the kubelet arguments
/// file at `path`. Writes nothing when the file already says so or on
/// `dry_run`; otherwise keeps the original as `PATH.bak-<UTC time>` (a new
/// backup per change, so an earlier one is never overwritten) and replaces
/// the file atomically, keeping its permissions.
pub fn reserve(
    tools: ToolFlavor,
    reserved: &Reserved,
    path: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let original = read_args_file(path)?;
    let edit = kubelet_args::edit_reserved(&original, reserved);
    let shown = path.display().to_string();
    if edit.is_unchanged() {
        writeln!(
            out,
            "{shown} already reserves {} for Kubernetes and system daemons; nothing to change.",
            reserved.value()
        )?;
        return Ok(Outcome::Success);
    }
    out.write_all(edit.diff(&shown).as_bytes())?;
    if dry_run {
        writeln!(out, "Dry run: {shown} not written.")?;
        return Ok(Outcome::Success);
    }

    let backup = write_backup(path, original.as_bytes())?;
    if let Err(err) = crate::fsutil::write_atomic(path, edit.text.as_bytes()) {
        let hint = sudo_hint_for(&err);
        return Err(err.context(format!(
            "{shown}: cannot write the new kubelet arguments{hint}; it is unchanged (backup: {})",
            backup.display()
        )));
    }
    writeln!(
        out,
        "Reserved {} for Kubernetes (--kube-reserved) and system daemons (--system-reserved) in {shown}.",
        reserved.value()
    )?;
    writeln!(out, "The previous file is kept as {}.", backup.display())?;
    out.write_all(restart_hint(tools, path).as_bytes())?;
    Ok(Outcome::Success)
}

fn read_args_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (the file belongs to root: run binderctl with sudo)".to_string()
            }
            std::io::ErrorKind::NotFound => {
                " (is MicroK8s installed on this node? Otherwise pass --kubelet-args PATH)"
                    .to_string()
            }
            _ => String::new(),
        };
        anyhow::anyhow!("{shown}: cannot read the kubelet arguments: {err}{hint}")
    })?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!("{shown}: not UTF-8 text; is this really the kubelet arguments file?")
    })
}

/// " (run binderctl with sudo)" when the error comes from a denied permission.
fn sudo_hint_for(err: &anyhow::Error) -> &'static str {
    let denied = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    if denied {
        " (run binderctl with sudo)"
    } else {
        ""
    }
}

/// Copy `original` to a new `PATH.bak-<UTC time>` next to `path`, with the
/// same permissions, never overwriting an existing file.
fn write_backup(path: &Path, original: &[u8]) -> Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = utc_stamp(now);
    let permissions = std::fs::metadata(path).map(|m| m.permissions()).ok();
    for attempt in 0..100u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".bak-{stamp}"));
        if attempt > 0 {
            name.push(format!("-{attempt}"));
        }
        let backup = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup);
        let mut file = match file {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                let hint = if err.kind() == std::io::ErrorKind::PermissionDenied {
                    " (run binderctl with sudo)"
                } else {
                    ""
                };
                anyhow::bail!(
                    "{}: cannot create the backup: {err}{hint}",
                    backup.display()
                );
            }
        };
        let written = file
            .write_all(original)
            .and_then(|_| file.sync_all())
            .and_then(|_| match &permissions {
                Some(p) => std::fs::set_permissions(&backup, p.clone()),
                None => Ok(()),
            });
        if let Err(err) = written {
            let _ = std::fs::remove_file(&backup);
            anyhow::bail!("{}: cannot write the backup: {err}", backup.display());
        }
        return Ok(backup);
    }
    anyhow::bail!(
        "{}: too many backups named {}.bak-{stamp}-N; remove some",
        path.display(),
        path.display()
    )
}

/// What to run so the kubelet reads its new arguments.
fn restart_hint(tools: ToolFlavor, path: &Path) -> String {
    match tools {
        ToolFlavor::Microk8s => "Restart the kubelet to apply it (MicroK8s 1.21 and later run the kubelet inside kubelite):\n\
             \x20 sudo snap restart microk8s.daemon-kubelite\n\
             On MicroK8s older than 1.21: sudo snap restart microk8s.daemon-kubelet\n\
             Reservations are per node: run `binderctl nodes reserve` on every node.\n"
            .to_string(),
        ToolFlavor::Plain => format!(
            "Restart the kubelet so that it reads {} (e.g. sudo systemctl restart kubelet).\n\
             Reservations are per node: run `binderctl nodes reserve` on every node.\n",
            path.display()
        ),
    }
}

/// `20240501T120000Z` for a time in seconds since the Unix epoch, in UTC.
fn utc_stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_known_instants() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_714_564_805), "20240501T120005Z");
        assert_eq!(utc_stamp(4_102_444_799), "20991231T235959Z");
    }

    fn reserved() -> Reserved {
        Reserved::new("1", "512Mi", "10Gi").unwrap()
    }

    #[test]
    fn reserve_writes_once_with_one_backup_then_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "--a=1\n--kube-reserved=cpu=2\n").unwrap();

        let mut out = Vec::new();
        reserve(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("sudo snap restart microk8s.daemon-kubelite"),
            "{text}"
        );
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            "--a=1\n--kube-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n\
             --system-reserved=cpu=1,memory=512Mi,ephemeral-storage=10Gi\n"
        );
        let backups: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert_eq!(
            std::fs::read_to_string(&backups[0]).unwrap(),
            "--a=1\n--kube-reserved=cpu=2\n"
        );

        let mut out = Vec::new();
        reserve(ToolFlavor::Microk8s, &reserved(), &path, false, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("nothing to change"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        std::fs::write(&path, "one\n").unwrap();
        let first = write_backup(&path, b"one\n").unwrap();
        let second = write_backup(&path, b"two\n").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(first).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(second).unwrap(), "two\n");
    }

    #[test]
    fn missing_file_error_names_the_path_and_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = reserve(
            ToolFlavor::Microk8s,
            &reserved(),
            &path,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("--kubelet-args"),
            "{msg}"
        );
    }
}
