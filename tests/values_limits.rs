//! The bounds of every YAML file binderctl reads (values, `-f` files,
//! manifests, secret.yaml): size, alias expansion; and comments in the
//! output that no file name can break out of.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::fake_tools::FakeCluster;
use support::{run, stderr};

/// One anchored list referenced many times: a small file whose aliases
/// would expand to about 10^8 values.
fn alias_bomb() -> String {
    let mut text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        let refs = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    text
}

fn render(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .current_dir(dir)
        .arg("render")
        .args(args)
        .output()
        .expect("run binderctl")
}

#[test]
fn an_endless_input_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = render(dir.path(), &["-i", "/dev/zero", "-o", "out.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/dev/zero: larger than 16 MiB, the most binderctl reads"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!dir.path().join("out.yaml").exists());
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.yaml")).unwrap();
    big.set_len(16 * 1024 * 1024 + 1).unwrap();
    let out = render(dir.path(), &["-i", "big.yaml", "-o", "out.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("big.yaml: larger than 16 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn alias_expansion_is_bounded_in_values_files() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = alias_bomb();
    assert!(bomb.len() < 1000);
    std::fs::write(dir.path().join("binder.yaml"), &bomb).unwrap();
    let started = Instant::now();
    let out = render(dir.path(), &["-o", "out.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("binder.yaml:") && err.contains("aliases (*name) expand to more than 100000"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn alias_expansion_is_bounded_in_manifests_and_secret_yaml() {
    let fake = FakeCluster::new();
    fake.write_file("quota.yaml", &alias_bomb());
    let out = run(&fake, &["quota", "apply", "-f", "quota.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("quota.yaml:"), "{}", stderr(&out));
    assert!(stderr(&out).contains("aliases (*name) expand to more than"));

    fake.write_file("binder.yaml", "config: {}\n");
    let secret = fake.write_file("secret.yaml", &alias_bomb());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = run(&fake, &["deploy", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secret.yaml: not valid YAML for Helm at"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("aliases (*name) expand to more than"));

    fake.write_file("extra.yaml", &alias_bomb());
    fake.write_file(
        "secret.yaml",
        "registry:\n  username: lab\n  password: not-a-secret\n",
    );
    let out = run(&fake, &["deploy", "--dry-run", "-f", "extra.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("extra.yaml:") && stderr(&out).contains("aliases (*name)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_input_name_cannot_inject_values_through_the_header_comment() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "a\ninjected: 1\n#.yaml",
        "b\rinjected: 1.yaml",
        "c\u{85}injected: 1.yaml",
        "d\u{2028}injected: 1.yaml",
        "e\u{2029}injected: 1.yaml",
    ] {
        std::fs::write(
            dir.path().join(name),
            "jupyterhub:\n  singleuser:\n    networkPolicy:\n      cidr_whitelist: [192.0.2.0/24]\n      published_ip_lists: {github: [], fastly: []}\n",
        )
        .unwrap();
        let out = render(dir.path(), &["-i", name, "--stdout"]);
        assert!(out.status.success(), "{name:?}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let header: Vec<&str> = text.lines().take(2).collect();
        assert!(
            header[0].starts_with("# Rendered by binderctl from ")
                && (header[0].contains("\\u{")
                    || header[0].contains("\\x85")
                    || header[0].contains("\\n")
                    || header[0].contains("\\r"))
                && header[1].starts_with("# changes made here"),
            "{name:?}: {text}"
        );
        let values = binderctl::values::read::parse_values(&text, "out").unwrap();
        assert!(values.value.get("injected").is_none(), "{name:?}: {text}");
    }
}

#[test]
fn warnings_are_bounded_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = "jupyterhub:\n  singleuser:\n    networkPolicy:\n      cidr_whitelist: [192.0.2.0/24]\n      published_ip_lists: {github: [], fastly: []}\nnames:\n".to_string();
    for i in 0..120 {
        yaml.push_str(&format!("  k{i}: n\n"));
    }
    std::fs::write(dir.path().join("binder.yaml"), yaml).unwrap();
    let out = render(dir.path(), &["--stdout"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("reaches Helm as the boolean false").count(),
        50,
        "{err}"
    );
    assert!(
        err.contains("binderctl: warning: binder.yaml: 70 more values like these are not listed"),
        "{err}"
    );
}
