//! The checks of the local inputs that come before any change: secret.yaml
//! (never quoting what it holds), the tutorial's placeholders, and whether
//! `hub_url` matches the address the proxy got. Shared by `render`,
//! `deploy`, `diff` and `doctor`.

use std::path::Path;

use anyhow::Result;
use serde_yaml::Value;

use crate::error::ShownPath;
use crate::values::read;

use crate::error::Problems;
use crate::values::settings;
use anyhow::Context;

/// BinderHub sends users to `config.BinderHub.hub_url`; warn when its host
/// is not proxy-public's external address (a reverse proxy in front, with a
/// host name, is fine and not flagged).
pub fn hub_url_warning(values: &Value, proxy_public: Option<&str>, input: &Path) -> Option<String> {
    let hub_url = values
        .get("config")?
        .get("BinderHub")?
        .get("hub_url")?
        .as_str()?;
    let proxy = proxy_public?;
    let host = url_host(hub_url)?;
    let host_is_address = host.parse::<std::net::IpAddr>().is_ok();
    let proxy_is_address = proxy.parse::<std::net::IpAddr>().is_ok();
    let same = host.eq_ignore_ascii_case(proxy);
    (!same && (host_is_address || !proxy_is_address)).then(|| {
        format!(
            "config.BinderHub.hub_url is {hub_url}, but proxy-public's external address is \
             {proxy}: BinderHub would send users to the wrong place (update hub_url in {} \
             and deploy again)",
            input.shown()
        )
    })
}

/// The host of an http(s) URL (`http://192.0.2.100:8080/x` → `192.0.2.100`,
/// `http://[2001:db8::1]:80` → `2001:db8::1`).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// Check secret.yaml without ever printing what it holds: it exists, parses,
/// has `registry.username` and `registry.password` that are not the
/// template's placeholders. Returns warnings (loose permissions).
pub fn check_secret(path: &Path) -> Result<Vec<String>> {
    let shown = path.shown();
    let text = match std::fs::metadata(path) {
        Ok(_) => crate::ops::input::read_text(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{shown}: not found; create it with the registry credentials:\n  registry:\n    \
             username: <registry user>\n    password: <access token>\nand make it private: chmod 600 {shown}"
        ),
        Err(e) => return Err(e).with_context(|| format!("{shown}: cannot read")),
    };
    let (mut problems, mut warnings) = read_secret(&text);
    if !problems.is_empty() {
        problems
            .iter_mut()
            .for_each(|p| *p = format!("{shown}: {p}"));
        problems.push("nothing deployed".into());
        return Err(Problems(problems).into());
    }
    warnings.iter_mut().for_each(|w| *w = format!("{shown}{w}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "{shown} holds a registry token but is readable by others (mode {mode:04o}); \
                     chmod 600 {shown}"
                ));
            }
        }
    }
    Ok(warnings)
}

/// What is wrong with secret.yaml's text, and warnings (each starting with
/// `:LINE:COLUMN: ` or `: `, for the file name); never quotes a value. It is
/// read as Helm reads it.
fn read_secret(text: &str) -> (Vec<String>, Vec<String>) {
    let reading = match read::parse_values(text, "") {
        Ok(reading) => reading,
        // Positions and keys only: the reader never quotes a value.
        Err(e) => {
            let message = format!("{e:#}");
            let message = message.strip_prefix(':').unwrap_or(&message);
            return (
                vec![format!("not valid YAML for Helm at {message}")],
                Vec::new(),
            );
        }
    };
    let mut warnings: Vec<String> = reading
        .notes
        .iter()
        .map(|n| n.describe_hidden(""))
        .collect();
    if reading.notes_left_out > 0 {
        warnings.push(format!(
            ": {} more values like these are not listed",
            reading.notes_left_out
        ));
    }
    (secret_problems(&reading.value), warnings)
}

/// What is wrong with secret.yaml's values; never quotes a value.
fn secret_problems(values: &Value) -> Vec<String> {
    let Some(registry) = values.get("registry").and_then(Value::as_mapping) else {
        return vec!["no `registry` section with `username` and `password`".into()];
    };
    let mut problems = Vec::new();
    for key in ["username", "password"] {
        match registry.get(key) {
            None => problems.push(format!("registry.{key}: missing")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                problems.push(format!("registry.{key}: empty"))
            }
            Some(Value::String(s))
                if is_placeholder(s) || (key == "username" && placeholder_in(s).is_some()) =>
            {
                problems.push(format!(
                    "registry.{key}: still the template's placeholder; put the real value there"
                ))
            }
            Some(Value::String(_)) => {}
            Some(other) => problems.push(format!(
                "registry.{key}: Helm reads it as {}, not as text; quote it",
                settings::kind(other)
            )),
        }
    }
    let url = registry.get("url").and_then(Value::as_str);
    if url.and_then(placeholder_in).is_some() {
        problems.push(
            "registry.url: still holds the template's placeholder; put the real value there".into(),
        );
    }
    problems
}

/// `<dockerhub-token>`, `<Token>`, `<DockerHub user>`: the tutorial's
/// placeholders are words in angle brackets.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('<') && v.ends_with('>')
}

/// The first `<…>` placeholder inside `value` (`<dockerhub-username>/binder-`).
fn placeholder_in(value: &str) -> Option<&str> {
    let start = value.find('<')?;
    let len = value.get(start..)?.find('>')?;
    let inner = value.get(start + 1..start + len)?;
    let word = !inner.trim().is_empty() && !inner.contains(['<', '\n']);
    word.then(|| value.get(start..=start + len)).flatten()
}

/// The values that still hold the tutorial's placeholders, one line each,
/// naming the file and key: `config.BinderHub.image_prefix` and `hub_url`
/// and `registry.url` / `registry.username` (a `<…>` anywhere), and
/// `registry.password` (wholly a placeholder; never quoted).
pub fn placeholder_problems(values: &Value, file: &str) -> Vec<String> {
    let text_at = |path: &[&str]| {
        path.iter()
            .try_fold(values, |v, key| v.get(key))
            .and_then(Value::as_str)
    };
    let mut problems = Vec::new();
    for path in [
        &["config", "BinderHub", "image_prefix"][..],
        &["config", "BinderHub", "hub_url"],
        &["registry", "url"],
        &["registry", "username"],
    ] {
        if let Some(placeholder) = text_at(path).and_then(placeholder_in) {
            problems.push(format!(
                "{file}: {} still holds the tutorial's placeholder {placeholder}; put the real \
                 value there",
                path.join(".")
            ));
        }
    }
    if text_at(&["registry", "password"]).is_some_and(is_placeholder) {
        problems.push(format!(
            "{file}: registry.password is still the tutorial's placeholder; put the real value there"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_url_warning_in(values: &Value, proxy: Option<&str>) -> Option<String> {
        hub_url_warning(values, proxy, Path::new("lab.yaml"))
    }

    #[test]
    fn hub_url_warning_names_the_input_file() {
        let values: Value =
            serde_yaml::from_str("config: {BinderHub: {hub_url: 'http://192.0.2.99'}}").unwrap();
        let w = hub_url_warning(&values, Some("192.0.2.100"), Path::new("lab.yaml")).unwrap();
        assert!(w.contains("update hub_url in lab.yaml"), "{w}");
    }

    #[test]
    fn secret_values_helm_reads_as_non_text_are_warned_about_without_the_value() {
        let (problems, warnings) =
            read_secret("registry:\n  username: lab\n  password: s3cret\n  email: no\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            warnings,
            [
                ":4:10: registry.email: an unquoted value that Helm reads as a boolean, not as \
              text; quote it if text was meant"
            ]
        );
    }

    #[test]
    fn secret_checks_never_quote_the_values() {
        let token = "dckr_pat_SECRET123";
        assert_eq!(
            read_secret(&format!(
                "registry:\n  username: lab\n  password: {token}\n"
            )),
            (Vec::new(), Vec::new())
        );
        let cases = [
            (
                "registry:\n  username: lab\n".to_string(),
                "registry.password: missing",
            ),
            (
                format!("registry:\n  username: '<dockerhub-username>'\n  password: {token}\n"),
                "registry.username: still the template's placeholder",
            ),
            (
                "registry:\n  username: lab\n  password: '  '\n".to_string(),
                "registry.password: empty",
            ),
            (
                format!("registry:\n  username: <dockerhub-username>-bot\n  password: {token}\n"),
                "registry.username: still the template's placeholder",
            ),
            (
                format!(
                    "registry:\n  url: https://<registry-host>\n  username: lab\n  password: {token}\n"
                ),
                "registry.url: still holds the template's placeholder",
            ),
            (
                format!("registry:\n  username: lab\n  password: [{token}]\n"),
                "registry.password: Helm reads it as a list, not as text",
            ),
            (
                format!("username: lab\npassword: {token}\n"),
                "no `registry` section",
            ),
            (
                format!("registry:\n  username: lab\n  password: \"{token}\n"),
                "not valid YAML for Helm at 3:",
            ),
            (
                "registry:\n  username: lab\n  password: yes\n".to_string(),
                "registry.password: Helm reads it as a boolean, not as text; quote it",
            ),
            (
                "registry:\n  username: lab\n  password: 010\n".to_string(),
                "registry.password: Helm reads it as a number",
            ),
        ];
        for (text, expected) in cases {
            let problems = read_secret(&text).0.join("\n");
            assert!(problems.contains(expected), "{text:?}: {problems}");
            assert!(!problems.contains(token), "token leaked: {problems}");
        }
    }

    #[test]
    fn placeholders_are_found_with_their_file_and_key() {
        let values: Value = serde_yaml::from_str(
            "config:\n  BinderHub:\n    image_prefix: <dockerhub-username>/binder-\n    \
             hub_url: <jupyterhub-url>\nregistry:\n  url: https://<registry>/v2\n  \
             password: <dockerhub-token>\n",
        )
        .unwrap();
        let problems = placeholder_problems(&values, "binder.yaml");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with(
            "binder.yaml: config.BinderHub.image_prefix still holds the tutorial's placeholder \
             <dockerhub-username>"
        ));
        assert!(problems[1].contains("config.BinderHub.hub_url"));
        assert!(problems[2].contains("registry.url"));
        assert!(problems[3].starts_with("binder.yaml: registry.password is still"));
        assert!(!problems[3].contains("dockerhub-token"));
        let real: Value = serde_yaml::from_str(
            "config:\n  BinderHub:\n    image_prefix: lab/binder-\n    hub_url: http://192.0.2.100\n",
        )
        .unwrap();
        assert!(placeholder_problems(&real, "binder.yaml").is_empty());
        assert_eq!(placeholder_in("a <b> c"), Some("<b>"));
        assert_eq!(placeholder_in("a < b"), None);
        assert_eq!(placeholder_in("<>"), None);
    }

    #[test]
    fn hub_url_is_compared_with_proxy_public() {
        let values = |url: &str| -> Value {
            serde_yaml::from_str(&format!("config:\n  BinderHub:\n    hub_url: {url}\n")).unwrap()
        };
        assert_eq!(
            hub_url_warning_in(&values("http://192.0.2.100"), Some("192.0.2.100")),
            None
        );
        assert_eq!(
            hub_url_warning_in(&values("http://192.0.2.100:80/hub/"), Some("192.0.2.100")),
            None
        );
        assert!(hub_url_warning_in(&values("http://192.0.2.99"), Some("192.0.2.100")).is_some());
        // A domain in front of proxy-public (reverse proxy) is not flagged.
        assert_eq!(
            hub_url_warning_in(&values("https://jupyter.lab.example"), Some("192.0.2.100")),
            None
        );
        // But a host name that is not proxy-public's host name is.
        assert!(
            hub_url_warning_in(&values("https://old.lab.example"), Some("lb.lab.example"))
                .is_some()
        );
        assert_eq!(
            hub_url_warning_in(&values("http://[2001:db8::1]:8080"), Some("2001:db8::1")),
            None
        );
        assert_eq!(hub_url_warning_in(&values("http://192.0.2.99"), None), None);
    }
}
