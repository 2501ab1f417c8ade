//! `binderctl whitelist check` against a real render: with the whitelist on,
//! only the listed GitHub owners get through, by every provider.

mod support;

use std::process::{Command, Output};

use support::{stderr, stdout};

const BINDER_YAML: &str = r#"config:
  GitHubRepoProvider:
    whitelist_enabled: true
    whitelist: [jupyterhub, binder-examples]
    banned_specs:
      - ^(?!()\/).*$
jupyterhub:
  singleuser:
    networkPolicy:
      egressAllowRules:
        nonPrivateIPs: false
      domain_whitelist: []
      published_ip_lists: {github: [], fastly: []}
"#;

fn binderctl(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binderctl"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn a_non_listed_owner_is_refused_through_every_provider() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("binder.yaml"), BINDER_YAML).unwrap();
    let out = binderctl(dir.path(), &["render"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("every other provider closed (Gist, Git, GitLab, Zenodo"),
        "{}",
        stderr(&out)
    );

    let check = |what: &str| binderctl(dir.path(), &["whitelist", "check", what]);
    for listed in [
        "https://binder.example/v2/gh/jupyterhub/binderhub/HEAD",
        "https://github.com/Binder-Examples/requirements",
    ] {
        let out = check(listed);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{listed}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains(": allowed: the GitHub provider allows it"));
    }
    for refused in [
        "https://github.com/evil/repo",
        "https://github.com/jupyterhub-evil/repo",
        "https://gist.github.com/evil/0a1b2c3d",
        "https://gist.github.com/jupyterhub/0a1b2c3d",
        "https://gitlab.com/evil/repo",
        "https://git.example/evil/repo.git",
        "https://github.com/jupyterhub/binderhub.git/../../evil/repo",
        "v2/git/https%3A%2F%2Fgithub.com%2Fjupyterhub%2Fbinderhub/HEAD",
        "zenodo/10.5281/zenodo.3242074",
        "figshare/10.6084/m9.figshare.9782777.v1",
        "hydroshare/b8f6eae9d89241cf8b5904033460af61",
        "dataverse/10.7910/DVN/TJCLKP",
        "ckan/https%3A%2F%2Fdata.example%2Fdataset%2Fx/HEAD",
    ] {
        let out = check(refused);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{refused}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains(": refused: the "), "{}", stdout(&out));
    }

    // The input is not what BinderHub gets: said so (and the placeholder
    // there refuses everything).
    let out = binderctl(
        dir.path(),
        &["whitelist", "check", "jupyterhub/x", "-f", "binder.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("this is the input, not the rendered file"),
        "{}",
        stderr(&out)
    );
    let out = binderctl(
        dir.path(),
        &["whitelist", "check", "jupyterhub/x", "-f", "missing.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.yaml"), "{}", stderr(&out));
}
