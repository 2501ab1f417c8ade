//! What the `registry` tests share: a stand-in for Docker Hub's API
//! (`hub`), the real registry and a Bearer-token proxy in front of it
//! (`registry`), the loopback server both stand-ins run on (`server`), and
//! running binderctl in a work folder, also on a terminal (a pty) so its
//! question can be answered. Include with
//! `#[path = "registry_support/mod.rs"] mod registry_support;` after
//! `mod support;`.

#![allow(dead_code)]

pub mod hub;
pub mod registry;
pub mod server;
pub mod sha256;

use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `future` to completion on a runtime of its own.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Standard base64 with padding.
pub fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_known_answers() {
    assert_eq!(base64(""), "");
    assert_eq!(base64("f"), "Zg==");
    assert_eq!(base64("fo"), "Zm8=");
    assert_eq!(base64("foo"), "Zm9v");
    assert_eq!(base64("lab:s3cret"), "bGFiOnMzY3JldA==");
}

/// binderctl in `dir`, with only the environment given (and PATH, HOME).
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binderctl"));
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run binderctl without a terminal.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run binderctl")
}

/// Run binderctl with a terminal on stdin, typing `answer` to its question.
pub fn run_on_terminal(dir: &Path, args: &[&str], env: &[(&str, &str)], answer: &str) -> Output {
    let (mut master, slave) = {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two new descriptors; each is owned by one
        // File from here on.
        let done = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(done, 0, "openpty: {}", std::io::Error::last_os_error());
        unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        }
    };
    let mut cmd = command(dir, args, env);
    cmd.stdin(Stdio::from(slave));
    let child = cmd.spawn().expect("run binderctl");
    drop(cmd);
    master
        .write_all(answer.as_bytes())
        .expect("type the answer");
    let output = child.wait_with_output().expect("binderctl output");
    drop(master);
    output
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Write `secret.yaml` (mode 600) with these registry values.
pub fn write_secret(dir: &Path, username: &str, password: &str, url: Option<&str>) {
    use std::os::unix::fs::PermissionsExt;
    let mut text = format!("registry:\n  username: {username}\n  password: \"{password}\"\n");
    if let Some(url) = url {
        text.push_str(&format!("  url: {url}\n"));
    }
    let path = dir.join("secret.yaml");
    std::fs::write(&path, text).expect("secret.yaml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Write `binder.yaml` with this image prefix.
pub fn write_values(dir: &Path, prefix: &str) {
    std::fs::write(
        dir.join("binder.yaml"),
        format!(
            "config:\n  BinderHub:\n    use_registry: true\n    image_prefix: {prefix}\n    \
             hub_url: http://192.0.2.100\n"
        ),
    )
    .expect("binder.yaml");
}
