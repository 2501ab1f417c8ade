//! `binderctl volumes ls|rm`: the namespace's PersistentVolumeClaims (the
//! users' storage) with size, age and the pod using each; `rm` by name or
//! prefix, never a claim in use nor the hub's database, asked first.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::pods;
use crate::cluster::confirm::confirm;
use crate::cluster::duration::{format_age, parse_timestamp, unix_now};
use crate::cluster::names::validate_object_name;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::{Batches, Runner, BATCHES_AT_ONCE};
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output::format::OutputOptions;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{self, format, plural};

/// Claims per `kubectl delete pvc` call.
pub const DELETE_BATCH: usize = 50;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimList {
    pub items: Vec<Claim>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Claim {
    pub metadata: ClaimMeta,
    pub spec: ClaimSpec,
    pub status: ClaimStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClaimMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub creation_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClaimSpec {
    pub storage_class_name: Option<String>,
    pub volume_name: Option<String>,
    pub resources: Resources,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub requests: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimStatus {
    pub phase: Option<String>,
    pub capacity: BTreeMap<String, String>,
}

/// Only what says which claims a pod mounts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MountList {
    items: Vec<Mounting>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Mounting {
    metadata: ClaimMeta,
    spec: MountSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MountSpec {
    volumes: Vec<PodVolume>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodVolume {
    persistent_volume_claim: Option<ClaimRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ClaimRef {
    claim_name: String,
}

impl Claim {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The size: what was provisioned, else what was asked for.
    pub fn size(&self) -> String {
        self.status
            .capacity
            .get("storage")
            .or_else(|| self.spec.resources.requests.get("storage"))
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    /// The hub's database (`hub-db-dir`, `component=hub`) is never removed.
    pub fn is_hub_database(&self) -> bool {
        self.name() == "hub-db-dir"
            || self.metadata.labels.get("component").map(String::as_str) == Some("hub")
    }
}

/// A claim with the pods that mount it.
#[derive(Debug, Clone)]
pub struct Volume {
    pub claim: Claim,
    pub used_by: Vec<String>,
}

/// `volumes ls -o json|yaml` (documented field names).
#[derive(Debug, Serialize)]
pub struct VolumeRecord {
    pub name: String,
    pub status: Option<String>,
    pub size: String,
    pub storage_class: Option<String>,
    pub volume: Option<String>,
    pub created: Option<String>,
    pub age_seconds: Option<u64>,
    pub used_by: Vec<String>,
}

impl VolumeRecord {
    fn new(v: &Volume, now: i64) -> Self {
        let created = v.claim.metadata.creation_timestamp.clone();
        VolumeRecord {
            name: v.claim.name().to_string(),
            status: v.claim.status.phase.clone(),
            size: v.claim.size(),
            storage_class: v.claim.spec.storage_class_name.clone(),
            volume: v.claim.spec.volume_name.clone(),
            age_seconds: age(created.as_deref(), now),
            created,
            used_by: v.used_by.clone(),
        }
    }
}

fn age(created: Option<&str>, now: i64) -> Option<u64> {
    parse_timestamp(created?).and_then(|t| u64::try_from(now - t).ok())
}

/// `kubectl get pvc -n NS -o json`.
pub fn list_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl(["get", "pvc", "-n", namespace, "-o", "json"])
}

/// One `kubectl delete pvc` per batch, each claim it deleted printed as
/// `persistentvolumeclaim/NAME`; claims already gone are not an error.
pub fn rm_plan(tools: &Tools, namespace: &str, names: &[String]) -> Plan {
    Plan::batched(
        &rm_command(tools, namespace),
        names,
        DELETE_BATCH,
        "Deleting",
        "claims",
    )
}

/// `kubectl delete pvc ...`, before the names.
fn rm_command(tools: &Tools, namespace: &str) -> CommandLine {
    tools.kubectl([
        "delete",
        "pvc",
        "-n",
        namespace,
        "--ignore-not-found",
        "--wait=false",
        "-o",
        "name",
    ])
}

/// Names of the claims a `kubectl delete pvc -o name` output reports deleted.
fn deleted_claims(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("persistentvolumeclaim/"))
        .map(str::to_string)
        .collect()
}

/// What `rm` did: the claims deleted (also by a batch that failed
/// part-way, as far as kubectl said), those already gone, and each failed
/// batch with the claims it did not delete or the server did not confirm;
/// then how to finish the job.
fn report_removal(batches: &Batches, count: usize, tools: &Tools, namespace: &str) {
    let base_args = rm_command(tools, namespace).args.len();
    let deleted: usize = batches
        .outputs
        .iter()
        .map(|o| deleted_claims(o).len())
        .sum::<usize>()
        + batches.done_before_failing(base_args, &deleted_claims);
    let not_done = batches.failed_items(base_args, &deleted_claims);
    let gone = count.saturating_sub(deleted + not_done);
    let mut summary = format!(
        "Deleted {}.",
        plural(deleted, "volume claim", "volume claims")
    );
    if gone > 0 {
        summary.push_str(&format!(" {} already gone.", plural(gone, "was", "were")));
    }
    if not_done > 0 {
        summary.push_str(&format!(
            " {} not deleted, or the server did not confirm it:",
            plural(not_done, "claim was", "claims were")
        ));
    }
    output::info(&summary);
    for line in batches.failure_lines(base_args, 10, &deleted_claims) {
        output::info(&format!("  {line}"));
    }
    if not_done > 0 {
        let left = CommandLine::new("binderctl").args(["volumes", "ls", "-n", namespace]);
        output::info(&format!(
            "Run the same command again to delete what is left (`{left}` lists it)."
        ));
    }
}

/// Sample plans for the conformance registry.
pub fn sample_plans() -> Vec<Plan> {
    [ToolFlavor::Microk8s, ToolFlavor::Plain]
        .into_iter()
        .map(|flavor| {
            let tools = Tools::new(flavor);
            let mut plan = Plan::new();
            plan.push_command(list_command(&tools, "binder"));
            plan.push_command(pods::list_command(&tools, "binder", None));
            let names = ["claim-alice".to_string(), "claim-bob".to_string()];
            plan.steps.extend(rm_plan(&tools, "binder", &names).steps);
            plan
        })
        .collect()
}

/// Join claims with the pods mounting them, sorted by name.
pub fn join(claims: ClaimList, pods_json: &str) -> Result<Vec<Volume>> {
    let mounts: MountList = serde_json::from_str(pods_json)
        .map_err(|e| anyhow::anyhow!("the pod list is not the expected JSON: {e}"))?;
    let mut volumes: Vec<Volume> = claims
        .items
        .into_iter()
        .map(|claim| {
            let used_by = mounts
                .items
                .iter()
                .filter(|p| {
                    p.spec.volumes.iter().any(|v| {
                        v.persistent_volume_claim
                            .as_ref()
                            .is_some_and(|c| c.claim_name == claim.metadata.name)
                    })
                })
                .map(|p| p.metadata.name.clone())
                .collect();
            Volume { claim, used_by }
        })
        .collect();
    volumes.sort_by(|a, b| a.claim.name().cmp(b.claim.name()));
    Ok(volumes)
}

/// Read claims and pods at once.
async fn fetch(runner: &Runner, tools: &Tools, namespace: &str) -> Result<Vec<Volume>> {
    let claims_command = list_command(tools, namespace);
    let pods_command = pods::list_command(tools, namespace, None);
    let (claims, pods) = tokio::join!(
        runner.query_json::<ClaimList>(&claims_command),
        runner.query(&pods_command)
    );
    join(claims?, &pods?)
}

pub fn format_volumes(volumes: &[Volume], now: i64, style: TableStyle) -> String {
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|v| {
            let mut row = vec![
                v.claim.name().to_string(),
                v.claim.status.phase.clone().unwrap_or_else(|| "?".into()),
                v.claim.size(),
                age(v.claim.metadata.creation_timestamp.as_deref(), now)
                    .map(|s| format_age(std::time::Duration::from_secs(s)))
                    .unwrap_or_else(|| "?".into()),
                if v.used_by.is_empty() {
                    "-".to_string()
                } else {
                    v.used_by.join(",")
                },
            ];
            if style.wide {
                row.push(v.claim.spec.storage_class_name.clone().unwrap_or_default());
                row.push(v.claim.spec.volume_name.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &[
            "NAME",
            "STATUS",
            "SIZE",
            "AGE",
            "USED BY",
            "STORAGECLASS",
            "VOLUME",
        ]
    } else {
        &["NAME", "STATUS", "SIZE", "AGE", "USED BY"]
    };
    format_table_styled(headers, &rows, style)
}

/// Which claims `rm` may delete: those named (exactly, or by prefix), not
/// in use and not the hub's database; the others with the reason.
pub fn choose<'a>(
    volumes: &'a [Volume],
    target: &str,
    prefix: bool,
) -> (Vec<&'a Volume>, Vec<(&'a Volume, String)>) {
    let mut chosen = Vec::new();
    let mut kept = Vec::new();
    let matches = volumes.iter().filter(|v| {
        if prefix {
            v.claim.name().starts_with(target)
        } else {
            v.claim.name() == target
        }
    });
    for volume in matches {
        if volume.claim.is_hub_database() {
            kept.push((volume, "the hub's database".to_string()));
        } else if !volume.used_by.is_empty() {
            kept.push((
                volume,
                format!(
                    "in use by {} (stop it first: binderctl pods purge {})",
                    volume.used_by.join(", "),
                    volume.used_by[0]
                ),
            ));
        } else {
            chosen.push(volume);
        }
    }
    (chosen, kept)
}

/// `volumes ls`'s options.
#[derive(Debug, Clone)]
pub struct ListOptions {
    pub output: OutputOptions,
}
/// `volumes rm`'s options.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// The claim, or with `prefix` the start of the claims' names.
    pub claim: String,
    pub prefix: bool,
    pub yes: bool,
    pub dry_run: bool,
}

pub async fn list(target: &Target, options: &ListOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let now = unix_now();
    let ListOptions { output } = options;

    let volumes = fetch(&Runner::new(false), &tools, &target.namespace).await?;
    if volumes.is_empty() && format::is_table(output) {
        output::info(&format!(
            "No volume claims in namespace {}.",
            target.namespace
        ));
        return Ok(Outcome::Success);
    }
    let records: Vec<VolumeRecord> = volumes.iter().map(|v| VolumeRecord::new(v, now)).collect();
    format::print(
        output,
        &records,
        || {
            volumes
                .iter()
                .map(|v| format!("persistentvolumeclaim/{}", v.claim.name()))
                .collect()
        },
        |style| format_volumes(&volumes, now, style),
    )?;
    Ok(Outcome::Success)
}

pub async fn remove(target: &Target, options: &RemoveOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let _now = unix_now();
    let RemoveOptions {
        claim,
        prefix,
        yes,
        dry_run,
    } = options;

    if !*prefix {
        validate_object_name("claim", claim)?;
    } else if claim.is_empty() {
        anyhow::bail!("--prefix \"\" would choose every claim; name a prefix");
    }
    let runner = Runner::new(*dry_run);
    let volumes = fetch(&runner, &tools, &target.namespace).await?;
    let (chosen, kept) = choose(&volumes, claim, *prefix);
    for (volume, reason) in &kept {
        output::warn(&format!("keeping {}: {reason}", volume.claim.name()));
    }
    if chosen.is_empty() {
        if kept.is_empty() && !*prefix {
            anyhow::bail!(
                "no volume claim {claim:?} in namespace {} (`binderctl volumes ls` lists them)",
                target.namespace
            );
        }
        if !kept.is_empty() {
            return Err(anyhow::anyhow!(
                "nothing deleted: every matching claim is kept"
            ));
        }
        output::info(&format!(
            "No volume claims start with {claim:?} in namespace {}; nothing to delete.",
            target.namespace
        ));
        return Ok(Outcome::Success);
    }
    output::info(&format!(
        "{} in namespace {} will be deleted, with the data in them:",
        plural(chosen.len(), "volume claim", "volume claims"),
        target.namespace
    ));
    for volume in &chosen {
        output::info(&format!(
            "  {}  ({})",
            volume.claim.name(),
            volume.claim.size()
        ));
    }
    let names: Vec<String> = chosen.iter().map(|v| v.claim.name().to_string()).collect();
    let plan = rm_plan(&tools, &target.namespace, &names);
    if !*dry_run {
        let question = format!(
            "Delete {} and their data?",
            plural(names.len(), "volume claim", "volume claims")
        );
        if !confirm(&question, *yes).await? {
            return Err(NotConfirmed("nothing deleted".into()).into());
        }
    }
    // Independent batches, a few at once; a failed one stops none.
    let results = runner.execute_concurrently(&plan, BATCHES_AT_ONCE).await;
    let batches = Batches::new(&plan, results);
    if !*dry_run {
        report_removal(&batches, names.len(), &tools, &target.namespace);
    }
    match batches.into_error() {
        Some(err) => Err(err),
        None => Ok(Outcome::Success),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIMS: &str = r#"{"items":[
      {"metadata":{"name":"hub-db-dir","labels":{"component":"hub"},"creationTimestamp":"2024-04-01T00:00:00Z"},"spec":{"resources":{"requests":{"storage":"1Gi"}}},"status":{"phase":"Bound","capacity":{"storage":"1Gi"}}},
      {"metadata":{"name":"claim-alice","labels":{"component":"singleuser-storage"},"creationTimestamp":"2024-05-20T10:02:11Z"},"spec":{"storageClassName":"local-storage-dir","volumeName":"pvc-1","resources":{"requests":{"storage":"10Gi"}}},"status":{"phase":"Bound","capacity":{"storage":"10Gi"}}},
      {"metadata":{"name":"claim-bob"},"spec":{"resources":{"requests":{"storage":"5Gi"}}},"status":{"phase":"Pending"}}]}"#;
    const PODS: &str = r#"{"items":[
      {"metadata":{"name":"hub-1"},"spec":{"volumes":[{"name":"pvc","persistentVolumeClaim":{"claimName":"hub-db-dir"}}]}},
      {"metadata":{"name":"jupyter-alice"},"spec":{"volumes":[{"name":"home","persistentVolumeClaim":{"claimName":"claim-alice"}},{"name":"x","emptyDir":{}}]}}]}"#;

    fn volumes() -> Vec<Volume> {
        join(serde_json::from_str(CLAIMS).unwrap(), PODS).unwrap()
    }

    #[test]
    fn claims_are_joined_with_their_pods() {
        let v = volumes();
        let names: Vec<&str> = v.iter().map(|v| v.claim.name()).collect();
        assert_eq!(names, ["claim-alice", "claim-bob", "hub-db-dir"]);
        assert_eq!(v[0].used_by, ["jupyter-alice"]);
        assert!(v[1].used_by.is_empty());
        assert_eq!(v[1].claim.size(), "5Gi");
        let table = format_volumes(&v, 1_716_285_731, TableStyle::default());
        assert!(
            table.contains("claim-alice   Bound     10Gi   1d    jupyter-alice"),
            "{table}"
        );
    }

    #[test]
    fn rm_never_takes_a_claim_in_use_or_the_hub_database() {
        let v = volumes();
        let (chosen, kept) = choose(&v, "claim-", true);
        assert_eq!(
            chosen.iter().map(|v| v.claim.name()).collect::<Vec<_>>(),
            ["claim-bob"]
        );
        assert!(kept[0].1.contains("in use by jupyter-alice"), "{kept:?}");
        let (chosen, kept) = choose(&v, "hub-db-dir", false);
        assert!(chosen.is_empty());
        assert_eq!(kept[0].1, "the hub's database");
        let (chosen, _) = choose(&v, "claim-b", false);
        assert!(chosen.is_empty(), "an exact name is not a prefix");
    }

    #[test]
    fn samples() {
        assert_eq!(
            sample_plans()[1].render(),
            "kubectl get pvc -n binder -o json\nkubectl get pods -n binder -o json\n\
             kubectl delete pvc -n binder --ignore-not-found --wait=false -o name claim-alice claim-bob\n"
        );
    }
}
