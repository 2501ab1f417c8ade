//! BinderHub's `/health` and `/versions` documents.
//!
//! `/health` (binderhub/health.py, `HealthHandler.get`) answers 200, or 503
//! when a check that counts failed, with
//! `{"ok": bool, "checks": [{"service": "Docker registry", "ok": true},
//! {"service": "JupyterHub API", "ok": true}, {"service": "Pod quota",
//! "total_pods": 12, "build_pods": 2, "user_pods": 10, "quota": 100, "ok":
//! true, "_ignore_failure": true}]}`: a check may carry fields of its own,
//! and one marked `_ignore_failure` (the pod quota, a soft quota) does not
//! make BinderHub unhealthy. `/versions` (binderhub/base.py,
//! `VersionHandler`) answers `{"builder_info": {"build_image": "..."},
//! "binderhub": "1.0.0..."}` (`builder_info` is
//! `{"repo2docker-version": ...}` for a local build).

use serde_json::{Map, Value};

use super::clip;

/// The longest text shown of one field a server sent.
const MAX_FIELD_CHARS: usize = 200;
/// The most checks (or builder fields) read from one document.
const MAX_ITEMS: usize = 50;

/// One of BinderHub's health checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHealth {
    /// As BinderHub names it: `Docker registry`, `JupyterHub API`, `Pod quota`.
    pub service: String,
    pub ok: bool,
    /// `_ignore_failure`: BinderHub does not count a failure of this check.
    pub ignore_failure: bool,
    /// What else the check reported, in words (the pod quota's counts).
    pub details: Option<String>,
}

/// The `/health` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// BinderHub's own verdict (the failures it ignores left out).
    pub ok: bool,
    pub checks: Vec<ServiceHealth>,
}

/// Read BinderHub's `/health` answer. An error says what is wrong with it
/// (not JSON, no `ok`), for a message that names the URL.
pub fn parse_health(body: &[u8]) -> Result<Health, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON document ({e})"))?;
    let object = value
        .as_object()
        .ok_or("not BinderHub's health document (not a JSON object)")?;
    let ok = object
        .get("ok")
        .and_then(Value::as_bool)
        .ok_or("not BinderHub's health document (no boolean \"ok\")")?;
    let checks = match object.get("checks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .take(MAX_ITEMS)
            .enumerate()
            .map(|(i, item)| service_health(i, item))
            .collect(),
        Some(_) => return Err("its \"checks\" is not a list".into()),
    };
    Ok(Health { ok, checks })
}

fn service_health(index: usize, item: &Value) -> ServiceHealth {
    let empty = Map::new();
    let fields = item.as_object().unwrap_or(&empty);
    let service = fields
        .get("service")
        .and_then(Value::as_str)
        .map(|s| clip(s, MAX_FIELD_CHARS))
        .unwrap_or_else(|| format!("check {}", index + 1));
    ServiceHealth {
        service,
        // A check that does not say it is ok is not.
        ok: fields.get("ok").and_then(Value::as_bool).unwrap_or(false),
        ignore_failure: fields
            .get("_ignore_failure")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        details: details(fields),
    }
}

/// The fields beyond `service`, `ok` and `_ignore_failure`, in words: the
/// pod quota as `12 pods (2 build, 10 user), quota 100`, anything else as
/// `key=value` pairs.
fn details(fields: &Map<String, Value>) -> Option<String> {
    let count = |key: &str| fields.get(key).and_then(Value::as_u64);
    if let Some(total) = count("total_pods") {
        let mut text = format!("{total} pods");
        if let (Some(build), Some(user)) = (count("build_pods"), count("user_pods")) {
            text.push_str(&format!(" ({build} build, {user} user)"));
        }
        match fields.get("quota") {
            Some(Value::Number(quota)) => text.push_str(&format!(", quota {quota}")),
            _ => text.push_str(", no quota"),
        }
        return Some(text);
    }
    let pairs: Vec<String> = fields
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "service" | "ok" | "_ignore_failure"))
        .take(MAX_ITEMS)
        .map(|(key, value)| format!("{}={}", clip(key, 40), scalar(value)))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(", "))
}

/// A JSON value in a message: strings without quotes, others as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => clip(s, MAX_FIELD_CHARS),
        other => clip(&other.to_string(), MAX_FIELD_CHARS),
    }
}

/// The `/versions` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// BinderHub's version.
    pub binderhub: Option<String>,
    /// `builder_info`: the build image, or repo2docker's version.
    pub builder: Vec<(String, String)>,
}

impl Versions {
    /// `BinderHub 1.0.0, build_image quay.io/jupyterhub/repo2docker:2024.07.0`.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!(
            "BinderHub {}",
            self.binderhub.as_deref().unwrap_or("(version not given)")
        )];
        parts.extend(self.builder.iter().map(|(k, v)| format!("{k} {v}")));
        parts.join(", ")
    }
}

/// Read BinderHub's `/versions` answer.
pub fn parse_versions(body: &[u8]) -> Result<Versions, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON document ({e})"))?;
    let object = value
        .as_object()
        .ok_or("not BinderHub's versions document (not a JSON object)")?;
    let binderhub = object.get("binderhub").map(scalar);
    let builder: Vec<(String, String)> = match object.get("builder_info") {
        Some(Value::Object(info)) => info
            .iter()
            .take(MAX_ITEMS)
            .map(|(k, v)| (clip(k, 40), scalar(v)))
            .collect(),
        _ => Vec::new(),
    };
    if binderhub.is_none() && builder.is_empty() {
        return Err("not BinderHub's versions document (no \"binderhub\")".into());
    }
    Ok(Versions { binderhub, builder })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As BinderHub 1.0 answers on Kubernetes, the pod quota over its
    /// (ignored) limit.
    const HEALTHY: &str = r#"{"ok": true, "checks": [
        {"service": "Docker registry", "ok": true},
        {"service": "JupyterHub API", "ok": true},
        {"service": "Pod quota", "total_pods": 112, "build_pods": 12, "user_pods": 100,
         "quota": 100, "ok": false, "_ignore_failure": true}]}"#;

    #[test]
    fn reads_binderhubs_health_document() {
        let health = parse_health(HEALTHY.as_bytes()).unwrap();
        assert!(health.ok);
        assert_eq!(health.checks.len(), 3);
        assert_eq!(
            health.checks[0],
            ServiceHealth {
                service: "Docker registry".into(),
                ok: true,
                ignore_failure: false,
                details: None,
            }
        );
        let quota = &health.checks[2];
        assert!(!quota.ok && quota.ignore_failure);
        assert_eq!(
            quota.details.as_deref(),
            Some("112 pods (12 build, 100 user), quota 100")
        );
    }

    #[test]
    fn a_failing_check_and_odd_entries() {
        let health = parse_health(
            br#"{"ok": false, "checks": [
                {"service": "Docker registry", "ok": false},
                {"ok": true},
                "not an object",
                {"service": "Pod quota", "total_pods": 3, "quota": null, "ok": true, "_ignore_failure": true},
                {"service": "Custom", "ok": true, "latency_ms": 12, "region": "lab"}]}"#,
        )
        .unwrap();
        assert!(!health.ok);
        assert!(!health.checks[0].ok);
        assert_eq!(health.checks[1].service, "check 2");
        assert_eq!(health.checks[2].service, "check 3");
        assert!(!health.checks[2].ok, "a check without ok is not ok");
        assert_eq!(
            health.checks[3].details.as_deref(),
            Some("3 pods, no quota")
        );
        assert_eq!(
            health.checks[4].details.as_deref(),
            Some("latency_ms=12, region=lab")
        );
    }

    #[test]
    fn documents_that_are_not_binderhubs_health_are_errors() {
        for (body, says) in [
            (&b"<html>404</html>"[..], "not a JSON document"),
            (b"[]", "not a JSON object"),
            (b"{\"status\": \"ok\"}", "no boolean \"ok\""),
            (b"{\"ok\": \"yes\"}", "no boolean \"ok\""),
            (b"{\"ok\": true, \"checks\": {}}", "not a list"),
        ] {
            let err = parse_health(body).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        // An old BinderHub without per-check results is still read.
        assert_eq!(
            parse_health(b"{\"ok\": true}").unwrap(),
            Health {
                ok: true,
                checks: Vec::new()
            }
        );
    }

    #[test]
    fn long_service_names_are_clipped() {
        let long = "x".repeat(5000);
        let body = format!(r#"{{"ok": true, "checks": [{{"service": "{long}", "ok": true}}]}}"#);
        let health = parse_health(body.as_bytes()).unwrap();
        assert!(health.checks[0].service.len() < 210);
        assert!(health.checks[0].service.ends_with("..."));
    }

    #[test]
    fn reads_binderhubs_versions_document() {
        let versions = parse_versions(
            br#"{"builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2024.07.0"},
                 "binderhub": "1.0.0-0.dev.git.3506.hba24eb2a",
                 "builder": "quay.io/jupyterhub/repo2docker:2024.07.0"}"#,
        )
        .unwrap();
        assert_eq!(
            versions.describe(),
            "BinderHub 1.0.0-0.dev.git.3506.hba24eb2a, \
             build_image quay.io/jupyterhub/repo2docker:2024.07.0"
        );
        let local =
            parse_versions(br#"{"builder_info": {"repo2docker-version": "2024.07.0"}}"#).unwrap();
        assert_eq!(
            local.describe(),
            "BinderHub (version not given), repo2docker-version 2024.07.0"
        );
        assert!(parse_versions(b"{}").is_err());
        assert!(parse_versions(b"not json").is_err());
    }
}
