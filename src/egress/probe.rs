//! `egress verify`'s probe pod: a short-lived pod in the release's
//! namespace carrying the user pods' labels of both generations, so the
//! policies (the chart's and binderctl's) apply to it as to a user pod. Pure:
//! the manifest, the fixed probe script, and the reading of its output into
//! one verdict per probe and the likely cause of a failure.
//!
//! The script is fixed text; the host, addresses and the hub's service come
//! as arguments (`sh -c SCRIPT probe HOST ADDRESS HUB PORT`), never pasted
//! into it. It needs `sh`, `nslookup` and `nc` (busybox has all three).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::egress::policy::{
    LABEL_APP_COMPONENT, LABEL_APP_INSTANCE, LABEL_COMPONENT, LABEL_RELEASE, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, USER_POD_COMPONENT,
};

/// The image the probe runs by default: small, with sh, nslookup and nc.
pub const DEFAULT_IMAGE: &str = "docker.io/library/busybox:1.36";
/// How long the probe pod may live at most (`activeDeadlineSeconds`).
pub const DEADLINE_SECONDS: u64 = 120;
/// The label naming what the pod is, beside `app.kubernetes.io/managed-by`.
pub const ROLE_LABEL: &str = "binderctl/role";
pub const ROLE_VALUE: &str = "egress-probe";
/// The label tying the pod to one run.
pub const RUN_LABEL: &str = "binderctl/run";
/// The label that lets a user pod reach the hub (the chart's hub policy
/// admits pods carrying it; KubeSpawner sets it on user pods).
pub const HUB_ACCESS_LABEL: &str = "hub.jupyter.org/network-access-hub";
/// The probe container's name (its log holds the results).
pub const CONTAINER: &str = "probe";
/// The hub's service port in zero-to-jupyterhub.
pub const HUB_PORT: u16 = 8081;
/// Every line of a result starts with this.
pub const RESULT_PREFIX: &str = "binderctl-probe";

/// The probe script: one `binderctl-probe NAME pass|fail DETAIL` line per
/// probe; it always exits 0 (the results are in its output).
pub const SCRIPT: &str = r#"host="$1"; blocked="$2"; hub="$3"; port="$4"
if nslookup "$host" >/dev/null 2>&1; then r=pass; else r=fail; fi
echo "binderctl-probe dns $r $host"
if nc -w 5 "$host" 443 </dev/null >/dev/null 2>&1; then r=pass; else r=fail; fi
echo "binderctl-probe allowed $r $host:443"
if nc -w 5 "$blocked" 443 </dev/null >/dev/null 2>&1; then r=fail; else r=pass; fi
echo "binderctl-probe blocked $r $blocked:443"
if nc -w 5 "$hub" "$port" </dev/null >/dev/null 2>&1; then r=pass; else r=fail; fi
echo "binderctl-probe hub $r $hub:$port"
"#;

/// The probes, in the order they run and are reported.
pub const PROBES: [&str; 4] = ["dns", "allowed", "blocked", "hub"];

/// One probe pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePod {
    pub name: String,
    pub namespace: String,
    pub release: String,
    pub image: String,
    pub run_id: String,
    /// A listed host: resolved, then reached on 443.
    pub host: String,
    /// An address outside every list: must not be reached on 443.
    pub blocked: String,
    /// The hub's service name.
    pub hub: String,
}

impl ProbePod {
    /// The user pods' labels of both generations, binderctl's own, and the
    /// hub-access label.
    pub fn labels(&self) -> BTreeMap<String, String> {
        [
            (LABEL_COMPONENT, USER_POD_COMPONENT),
            (LABEL_RELEASE, self.release.as_str()),
            (LABEL_APP_COMPONENT, USER_POD_COMPONENT),
            (LABEL_APP_INSTANCE, self.release.as_str()),
            (HUB_ACCESS_LABEL, "true"),
            (MANAGED_BY_LABEL, MANAGED_BY_VALUE),
            (ROLE_LABEL, ROLE_VALUE),
            (RUN_LABEL, self.run_id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The pod manifest: the pod network (never the host's, or no
    /// NetworkPolicy would apply), no token, a deadline, small resources.
    pub fn manifest(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels(),
            },
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": DEADLINE_SECONDS,
                "automountServiceAccountToken": false,
                "enableServiceLinks": false,
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": CONTAINER,
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", SCRIPT, "probe", self.host, self.blocked,
                                self.hub, HUB_PORT.to_string()],
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "runAsNonRoot": true,
                        "runAsUser": 65534,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi"},
                    },
                }],
            },
        })
    }

    /// The manifest as `kubectl create -f -` gets it.
    pub fn manifest_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.manifest()).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub probe: String,
    pub pass: bool,
    pub detail: String,
}

/// The results in the probe's output, in [`PROBES`] order; a probe without
/// a line is an error naming it (the image lacks a tool, or it was cut off).
pub fn parse_results(log: &str) -> Result<Vec<ProbeResult>, String> {
    let mut found: BTreeMap<&str, ProbeResult> = BTreeMap::new();
    for line in log.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [prefix, probe, verdict, detail @ ..] = words.as_slice() else {
            continue;
        };
        if *prefix != RESULT_PREFIX {
            continue;
        }
        let Some(name) = PROBES.iter().find(|p| *p == probe) else {
            continue;
        };
        let pass = match *verdict {
            "pass" => true,
            "fail" => false,
            _ => continue,
        };
        found.insert(
            name,
            ProbeResult {
                probe: name.to_string(),
                pass,
                detail: detail.join(" "),
            },
        );
    }
    let missing: Vec<&str> = PROBES
        .iter()
        .copied()
        .filter(|p| !found.contains_key(p))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the probe printed no result for {} (does the image have sh, nslookup and nc?)",
            missing.join(", ")
        ));
    }
    Ok(PROBES.iter().filter_map(|p| found.remove(p)).collect())
}

/// What binderctl knows besides the results, to name a likely cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// binder.yaml leaves `egressAllowRules.nonPrivateIPs` true (the chart
    /// then allows every public address).
    pub non_private_ips: bool,
    /// The held policies select the probe pod (by the server's selectors).
    pub probe_selected: bool,
}

/// A sentence per failed probe, naming its likely cause; empty when every
/// probe passed.
pub fn causes(results: &[ProbeResult], context: Context) -> Vec<String> {
    let failed = |name: &str| results.iter().any(|r| r.probe == name && !r.pass);
    let mut causes = Vec::new();
    if failed("blocked") {
        let why = if context.non_private_ips {
            "egressAllowRules.nonPrivateIPs is true in binder.yaml, so the chart lets user pods \
             reach every public address; set it to false"
        } else if !context.probe_selected {
            "no managed policy selects the probe's labels (a selector that does not match: \
             `binderctl egress show`)"
        } else {
            "the cluster does not enforce NetworkPolicies: its network plugin ignores them \
             (flannel alone does; MicroK8s' default Calico enforces them)"
        };
        causes.push(format!(
            "the policy is not enforced: the probe reached an address outside the allow-list; \
             likely cause: {why}"
        ));
    }
    if failed("dns") {
        causes.push(
            "the probe could not resolve the listed host: user pods' DNS is blocked or the name \
             does not resolve from inside the cluster (the chart's egressAllowRules \
             dnsPortsPrivateIPs / dnsPortsKubeSystemNamespace)"
                .into(),
        );
    }
    if failed("allowed") && !failed("dns") {
        causes.push(
            "the probe could not reach the listed host on 443: the allow-list lacks its \
             addresses (run `binderctl egress apply`; `binderctl egress check \
             --compare-resolvers` shows whether the pods see other addresses), or the host \
             does not answer on 443"
                .into(),
        );
    }
    if failed("hub") {
        causes.push(
            "the probe could not reach the hub service: the hub's policy admits pods labelled \
             hub.jupyter.org/network-access-hub=true, or the hub is not running"
                .into(),
        );
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> ProbePod {
        ProbePod {
            name: "binderctl-egress-probe-0a1b2c3d".into(),
            namespace: "binder".into(),
            release: "bh".into(),
            image: DEFAULT_IMAGE.into(),
            run_id: "0a1b2c3d".into(),
            host: "files.example".into(),
            blocked: "198.51.100.99".into(),
            hub: "hub".into(),
        }
    }

    #[test]
    fn the_probe_looks_like_a_user_pod_of_both_generations() {
        let m = probe().manifest();
        let labels = &m["metadata"]["labels"];
        assert_eq!(labels["component"], "singleuser-server");
        assert_eq!(labels["release"], "bh");
        assert_eq!(labels["app.kubernetes.io/component"], "singleuser-server");
        assert_eq!(labels["app.kubernetes.io/instance"], "bh");
        assert!(m["spec"]["hostNetwork"].is_null());
        assert_eq!(m["spec"]["activeDeadlineSeconds"], DEADLINE_SECONDS);
        // Input goes as arguments, after the fixed script.
        let command = m["spec"]["containers"][0]["command"].as_array().unwrap();
        assert_eq!(command[2], SCRIPT);
        assert_eq!(command[4], "files.example");
        assert_eq!(command[5], "198.51.100.99");
        assert!(!SCRIPT.contains("files.example"));
    }

    const ALL_PASS: &str = "binderctl-probe dns pass files.example\n\
        binderctl-probe allowed pass files.example:443\n\
        binderctl-probe blocked pass 198.51.100.99:443\n\
        binderctl-probe hub pass hub:8081\n";

    #[test]
    fn results_are_read_in_order_and_missing_ones_named() {
        let results = parse_results(ALL_PASS).unwrap();
        assert_eq!(
            results.iter().map(|r| r.probe.as_str()).collect::<Vec<_>>(),
            PROBES
        );
        assert!(results.iter().all(|r| r.pass));
        assert!(causes(&results, Context::default()).is_empty());
        let err = parse_results("sh: nc: not found\nbinderctl-probe dns pass x\n").unwrap_err();
        assert!(err.contains("allowed, blocked, hub"), "{err}");
    }

    #[test]
    fn a_reached_blocked_address_names_the_likely_cause() {
        let text = ALL_PASS.replace("blocked pass", "blocked fail");
        let results = parse_results(&text).unwrap();
        let selected = Context {
            non_private_ips: false,
            probe_selected: true,
        };
        let c = causes(&results, selected);
        assert_eq!(c.len(), 1);
        assert!(c[0].contains("network plugin ignores them"), "{c:?}");
        let c = causes(
            &results,
            Context {
                non_private_ips: true,
                probe_selected: true,
            },
        );
        assert!(c[0].contains("nonPrivateIPs"), "{c:?}");
        let c = causes(&results, Context::default());
        assert!(c[0].contains("selector that does not match"), "{c:?}");
        let text = ALL_PASS.replace("allowed pass", "allowed fail");
        let c = causes(&parse_results(&text).unwrap(), selected);
        assert!(c[0].contains("egress apply"), "{c:?}");
    }
}
