//! The BinderHub and its inputs: proxy-public's address and hub_url, the
//! tutorial's placeholders, secret.yaml, egress (mode, refresh timer), the
//! render's age, the nodes.

use crate::error::ShownPath;
use std::path::Path;

use serde_yaml::Value;

use crate::ops::nodes::inventory::{parse_node_list, NodeRow};
use crate::ops::preflight::{check_secret, hub_url_warning, is_placeholder};
use crate::ops::status::ServiceList;

use crate::output::{self};

use super::model::*;

use crate::ops::doctor::gather::read_optional;

pub(crate) fn services(answer: &Answer) -> std::result::Result<ServiceList, String> {
    let text = answer.as_ref().map_err(Clone::clone)?;
    serde_json::from_str(text).map_err(|_| "services: not the expected JSON".to_string())
}

pub(crate) fn proxy_public_check(answer: &Answer) -> Check {
    const NAME: &str = "proxy-public";
    let list = match services(answer) {
        Ok(l) => l,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot list services: {e}"),
                "make the cluster reachable (see the checks above)",
            )
        }
    };
    if !list.items.iter().any(|s| s.metadata.name == "proxy-public") {
        return Check::fail(
            NAME,
            "no proxy-public service: the BinderHub is not deployed in this namespace",
            "binderctl deploy (or pass -n with the BinderHub's namespace)",
        );
    }
    match list.external_address("proxy-public") {
        Some(address) => Check::ok(NAME, format!("external address {address}")),
        None => Check::fail(
            NAME,
            "proxy-public has no external address yet",
            "enable MetalLB with a free range (microk8s enable metallb:FIRST-LAST)",
        ),
    }
}

pub(crate) fn hub_url_check(
    answer: &Answer,
    values: &std::result::Result<Value, String>,
    input: &Path,
) -> Check {
    const NAME: &str = "hub-url";
    let Ok(values) = values else {
        return Check::skip(NAME, "the values file could not be read");
    };
    let proxy = services(answer)
        .ok()
        .and_then(|l| l.external_address("proxy-public"));
    let Some(proxy) = proxy else {
        return Check::skip(NAME, "proxy-public has no external address to compare with");
    };
    match hub_url_warning(values, Some(&proxy), input) {
        Some(message) => Check::fail(
            NAME,
            message,
            format!(
                "set config.BinderHub.hub_url: http://{proxy} in {}, then binderctl deploy",
                input.shown()
            ),
        ),
        None => Check::ok(NAME, "config.BinderHub.hub_url points at proxy-public"),
    }
}

/// Whether `text` holds a `<two words>` or `<dash-ed>` placeholder inside
/// it (`<registry user>/binder-`); HTML tags (`<b>`, `<a href=...>`,
/// `<br />`) are not placeholders.
pub(crate) fn has_placeholder(text: &str) -> bool {
    text.split('<').skip(1).any(|rest| {
        rest.split_once('>').is_some_and(|(inner, _)| {
            !inner.is_empty()
                && !inner.contains(['=', '/', '"'])
                && inner.contains([' ', '-', '_'])
                && !inner.starts_with(' ')
        })
    })
}

/// Key paths of string values that are still `<placeholders>`.
pub fn placeholders(value: &Value) -> Vec<String> {
    pub(crate) fn walk(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::String(s)
                if (is_placeholder(s) && s.matches('<').count() == 1) || has_placeholder(s) =>
            {
                found.push(path.to_string())
            }
            Value::Mapping(map) => {
                for (key, child) in map {
                    let key = key.as_str().map(str::to_string).unwrap_or_else(|| {
                        serde_yaml::to_string(key)
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    });
                    let path = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &path, found);
                }
            }
            Value::Sequence(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), found);
                }
            }
            Value::Tagged(tagged) => walk(&tagged.value, path, found),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, "", &mut found);
    found
}

pub(crate) fn placeholder_check(
    values: &std::result::Result<Value, String>,
    input: &Path,
) -> Check {
    const NAME: &str = "placeholders";
    let values = match values {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                NAME,
                e.clone(),
                "create it (binderctl render -i FILE for another name)",
            )
        }
    };
    let found = placeholders(values);
    if found.is_empty() {
        return Check::ok(NAME, format!("no <placeholders> left in {}", input.shown()));
    }
    Check::fail(
        NAME,
        format!(
            "{} still holds template placeholders at {}",
            input.shown(),
            found.join(", ")
        ),
        "replace each <...> with the real value",
    )
}

pub(crate) fn secret_values_check(secret: &Path) -> Check {
    const NAME: &str = "secret";
    if !secret.exists() {
        return Check::fail(
            NAME,
            format!("{} does not exist", secret.shown()),
            format!(
                "create it with registry.username and registry.password (see the README's \
                 Files), then chmod 600 {}",
                secret.shown()
            ),
        );
    }
    match check_secret(secret) {
        Ok(_) => Check::ok(
            NAME,
            format!("{} holds the registry credentials", secret.shown()),
        ),
        Err(e) => {
            let lines: Vec<String> = format!("{e:#}")
                .lines()
                .filter(|l| *l != "nothing deployed" && !l.starts_with("  "))
                .map(str::to_string)
                .collect();
            Check::fail(
                NAME,
                lines.join("; "),
                format!(
                    "edit {} (registry.username, registry.password)",
                    secret.shown()
                ),
            )
        }
    }
}

pub(crate) fn secret_permissions_check(secret: &Path) -> Check {
    const NAME: &str = "secret-permissions";
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(secret) else {
            return Check::skip(NAME, format!("{} does not exist", secret.shown()));
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Check::fail(
                NAME,
                format!(
                    "{} holds a registry token but is readable by others (mode {mode:04o})",
                    secret.shown()
                ),
                format!("chmod 600 {}", secret.shown()),
            );
        }
        Check::ok(
            NAME,
            format!("{} is private (mode {mode:04o})", secret.shown()),
        )
    }
    #[cfg(not(unix))]
    Check::skip(NAME, "permissions are not checked on this system")
}

pub(crate) fn egress_check(values: &std::result::Result<Value, String>, input: &Path) -> Check {
    const NAME: &str = "egress-policy";
    let Ok(values) = values else {
        return Check::skip(NAME, "the values file could not be read");
    };
    let non_private = values
        .get("jupyterhub")
        .and_then(|v| v.get("singleuser"))
        .and_then(|v| v.get("networkPolicy"))
        .and_then(|v| v.get("egressAllowRules"))
        .and_then(|v| v.get("nonPrivateIPs"));
    match non_private {
        Some(Value::Bool(false)) => Check::ok(
            NAME,
            "nonPrivateIPs is false: user pods reach only the allow-list",
        ),
        _ => Check::fail(
            NAME,
            "jupyterhub.singleuser.networkPolicy.egressAllowRules.nonPrivateIPs is not false: \
             user pods may reach every public address and the allow-list restricts nothing",
            format!(
                "set it to false in {}, then binderctl deploy",
                input.shown()
            ),
        ),
    }
}

/// The refresh timer `binderctl egress schedule` installs, under the root.
pub const TIMER_FILE: &str = "etc/systemd/system/binderctl-egress.timer";

/// binder.yaml says `allow_list_mode: policy`.
pub(crate) fn policy_mode(values: &std::result::Result<Value, String>) -> bool {
    values.as_ref().is_ok_and(|v| {
        v.get("jupyterhub")
            .and_then(|v| v.get("singleuser"))
            .and_then(|v| v.get("networkPolicy"))
            .and_then(|v| v.get("allow_list_mode"))
            .and_then(Value::as_str)
            == Some("policy")
    })
}

/// Whether the allow-list keeps itself fresh: the timer exists, and the
/// policies were applied within twice its interval.
pub(crate) fn egress_schedule_check(
    facts: &ClusterFacts,
    local: &Local,
    policy_mode: bool,
) -> Check {
    const NAME: &str = "egress-schedule";
    let fix_timer = "sudo binderctl egress schedule (a systemd timer running egress apply)";
    let fix_runs = "systemctl status binderctl-egress.timer; journalctl -u binderctl-egress";
    let timer = match read_optional(&local.system(TIMER_FILE)) {
        Ok(timer) => timer,
        Err(why) => return Check::warn(NAME, format!("cannot read the timer: {why}"), fix_runs),
    };
    let Some(timer) = timer else {
        return if policy_mode {
            Check::warn(
                NAME,
                "no binderctl-egress.timer: the allow-list is refreshed only when someone runs \
                 `binderctl egress apply`",
                fix_timer,
            )
        } else {
            Check::ok(
                NAME,
                "allow_list_mode is values: `binderctl deploy` refreshes the allow-list",
            )
        };
    };
    let Some(interval) = crate::cluster::systemd::interval(&timer) else {
        return Check::warn(
            NAME,
            format!("{} holds no OnUnitActiveSec= interval", TIMER_FILE),
            fix_timer,
        );
    };
    let every = interval.as_secs();
    match &facts.egress_applied {
        None => Check::skip(NAME, "the egress policies were not read"),
        Some(Err(why)) => Check::warn(
            NAME,
            format!("timer every {every}s, but the policies cannot be read: {why}"),
            fix_runs,
        ),
        Some(Ok(None)) => Check::warn(
            NAME,
            format!("timer every {every}s, but no egress policy has been applied yet"),
            fix_runs,
        ),
        Some(Ok(Some(at))) => {
            let age = u64::try_from(facts.now - at).unwrap_or(0);
            let ago = crate::cluster::duration::format_age(std::time::Duration::from_secs(age));
            if age > 2 * every {
                Check::warn(
                    NAME,
                    format!(
                        "the policies were last refreshed {ago} ago, more than twice the \
                         timer's interval ({every}s)"
                    ),
                    fix_runs,
                )
            } else {
                Check::ok(
                    NAME,
                    format!("timer every {every}s; the policies were last refreshed {ago} ago"),
                )
            }
        }
    }
}

pub(crate) fn render_age_check(local: &Local) -> Check {
    const NAME: &str = "egress-fresh";
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(rendered) = modified(&local.rendered) else {
        return Check::warn(
            NAME,
            format!("{} does not exist", local.rendered.shown()),
            "binderctl render (or binderctl deploy)",
        );
    };
    if modified(&local.input).is_some_and(|input| input > rendered) {
        return Check::warn(
            NAME,
            format!(
                "{} changed after {} was rendered",
                local.input.shown(),
                local.rendered.shown()
            ),
            "binderctl deploy",
        );
    }
    let age = std::time::SystemTime::now()
        .duration_since(rendered)
        .unwrap_or_default();
    if age.as_secs() > STALE_RENDER_SECS {
        return Check::warn(
            NAME,
            format!(
                "{} was rendered {} ago: addresses behind CDNs may have moved",
                local.rendered.shown(),
                crate::cluster::duration::format_age(age)
            ),
            "binderctl render --check (exit 1 means deploy again)",
        );
    }
    Check::ok(NAME, format!("{} is recent", local.rendered.shown()))
}

pub(crate) fn nodes_check(answer: &Answer) -> Check {
    const NAME: &str = "nodes";
    let rows: Vec<NodeRow> =
        match answer.as_ref().map_err(Clone::clone).and_then(|t| {
            parse_node_list(t).map_err(|_| "nodes: not the expected JSON".to_string())
        }) {
            Ok(rows) => rows,
            Err(e) => {
                return Check::fail(
                    NAME,
                    format!("cannot list nodes: {e}"),
                    "make the cluster reachable (see the checks above)",
                )
            }
        };
    let not_ready: Vec<&str> = rows
        .iter()
        .filter(|r| !r.status.starts_with("Ready"))
        .map(|r| r.name.as_str())
        .collect();
    if !not_ready.is_empty() {
        return Check::fail(
            NAME,
            format!("not ready: {}", not_ready.join(", ")),
            "on that node: microk8s inspect; sudo microk8s start",
        );
    }
    let mut versions: Vec<&str> = rows.iter().map(|r| r.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() > 1 {
        let each: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", r.name, r.version))
            .collect();
        return Check::fail(
            NAME,
            format!("nodes run different versions: {}", each.join(", ")),
            "sudo snap refresh microk8s --channel=SAME/stable on the nodes that differ",
        );
    }
    Check::ok(
        NAME,
        format!(
            "{} ready, all on {}",
            output::plural(rows.len(), "node", "nodes"),
            versions.first().copied().unwrap_or("?")
        ),
    )
}
