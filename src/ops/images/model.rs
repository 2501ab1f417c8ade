//! `binderctl images ls|rm`: the container images containerd keeps on this
//! node for Kubernetes (`ctr -n k8s.io images ...`). Each node has its own
//! containerd: `--node`/`--all-nodes` reach the others (`nodes_remote`).

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use regex::Regex;

use serde::Serialize;

use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::tools::Tools;
use crate::output::table::{format_table_styled, TableStyle};

/// `-E` (the pattern is a regular expression) and `--containerd-namespace`.
#[derive(Debug, Clone)]
pub struct ImageMatch {
    pub regex: bool,
    pub containerd_namespace: String,
}

/// One row of `ctr images ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub reference: String,
    pub digest: String,
    /// The row as ctr printed it, for listing.
    pub line: String,
}

/// Parse `ctr images ls`: a header starting with `REF`, then one image per
/// line; REF is the first column and DIGEST the third (neither has spaces;
/// SIZE, after them, does).
pub fn parse_ctr_images(output: &str) -> (Option<String>, Vec<Image>) {
    let mut header = None;
    let mut images = Vec::new();
    for line in output.lines() {
        let mut fields = line.split_whitespace();
        let Some(reference) = fields.next() else {
            continue;
        };
        if reference == "REF" && header.is_none() && images.is_empty() {
            header = Some(line.to_string());
            continue;
        }
        let digest = fields.nth(1).unwrap_or("").to_string();
        images.push(Image {
            reference: reference.to_string(),
            digest,
            line: line.to_string(),
        });
    }
    (header, images)
}

/// An image as `images ls -o json|yaml` shows it (documented field names),
/// read from ctr's row: REF TYPE DIGEST SIZE (two words) PLATFORMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRecord {
    #[serde(rename = "ref")]
    pub reference: String,
    pub digest: String,
    /// As ctr prints it, e.g. `85.5 MiB`.
    pub size: String,
    pub platforms: String,
}

impl ImageRecord {
    pub fn new(image: &Image) -> Self {
        let words: Vec<&str> = image.line.split_whitespace().collect();
        let word = |i: usize| words.get(i).copied().unwrap_or("").to_string();
        ImageRecord {
            reference: image.reference.clone(),
            digest: image.digest.clone(),
            size: format!("{} {}", word(3), word(4)).trim().to_string(),
            platforms: word(5),
        }
    }
}

/// The `images ls` table: REF and SIZE; `-o wide` shows ctr's own columns.
pub fn format_images(header: Option<&str>, images: &[&Image], style: TableStyle) -> String {
    if style.wide {
        let mut text = match header.filter(|_| style.headers) {
            Some(h) => format!("{h}\n"),
            None => String::new(),
        };
        text.extend(images.iter().map(|i| format!("{}\n", i.line)));
        return text;
    }
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            let record = ImageRecord::new(i);
            vec![record.reference, record.size]
        })
        .collect();
    format_table_styled(&["REF", "SIZE"], &rows, style)
}

/// How PATTERN matches an image reference.
#[derive(Debug, Clone)]
pub enum Matcher {
    Substring(String),
    Regex(Regex),
}

impl Matcher {
    pub fn new(pattern: &str, regex: bool) -> Result<Self> {
        if regex {
            let compiled = Regex::new(pattern)
                .with_context(|| format!("{pattern:?} is not a valid regular expression"))?;
            Ok(Matcher::Regex(compiled))
        } else {
            Ok(Matcher::Substring(pattern.to_string()))
        }
    }

    pub fn matches(&self, reference: &str) -> bool {
        match self {
            Matcher::Substring(s) => reference.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(reference),
        }
    }
}

/// Whether a ref is containerd's image-ID ref (`sha256:<id>`), which the CRI
/// keeps next to the named refs and which holds the image's content too.
fn is_id_ref(reference: &str) -> bool {
    reference.starts_with("sha256:")
}

/// Registries whose images are the cluster's own (Kubernetes, MicroK8s).
const SYSTEM_REGISTRIES: [&str; 2] = ["registry.k8s.io", "k8s.gcr.io"];
/// Repository paths (after the registry) of the hub's own images (the
/// JupyterHub and BinderHub charts' `jupyterhub/k8s-*`, configurable-http-
/// proxy) and of MicroK8s' add-ons (Calico, CoreDNS, the Dashboard, the
/// hostpath provisioner, MetalLB, OpenEBS).
const SYSTEM_PATH_PREFIXES: [&str; 7] = [
    "jupyterhub/",
    "calico/",
    "coredns/",
    "kubernetesui/",
    "cdkbot/",
    "metallb/",
    "openebs/",
];
/// Image names that are system images wherever they come from.
const SYSTEM_NAMES: [&str; 3] = ["pause", "binderhub", "k8s-binderhub"];

/// Whether `reference` names one of the node's system images: the pause
/// image, the hub's own images, Kubernetes' and MicroK8s' images.
pub fn is_system_reference(reference: &str) -> bool {
    let name = reference.split('@').next().unwrap_or(reference);
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    };
    let path = path.strip_prefix("library/").unwrap_or(path);
    let last = path.rsplit('/').next().unwrap_or(path);
    let last = last.split(':').next().unwrap_or(last);
    SYSTEM_REGISTRIES.contains(&registry)
        || SYSTEM_PATH_PREFIXES.iter().any(|p| path.starts_with(p))
        || SYSTEM_NAMES.contains(&last)
}

/// Which matched images `rm` may remove anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// `--include-system`: system images may go.
    pub include_system: bool,
    /// `--include-in-use`: images that containers use may go.
    pub include_in_use: bool,
}

/// What `rm` removes, and the matched refs it keeps back (and why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub remove: Vec<String>,
    pub in_use: Vec<String>,
    pub system: Vec<String>,
}

/// The refs to remove for `matcher`: the matching refs, less those of
/// images that containers use (`container_images`, as `ctr containers ls`
/// names them) and of system images unless `keep` allows; plus the
/// image-ID refs (`sha256:...`) of the removed images, so containerd can
/// free the space, unless a named ref that stays still uses that image.
/// A pattern that matches every image is refused.
pub fn select(
    images: &[Image],
    matcher: &Matcher,
    container_images: &[String],
    keep: Keep,
) -> Result<Selection> {
    let matched: Vec<&Image> = images
        .iter()
        .filter(|i| matcher.matches(&i.reference))
        .collect();
    if !matched.is_empty() && matched.len() == images.len() {
        bail!(
            "the pattern matches every image on this node ({} refs), which would empty its \
             image cache; name what to remove (`binderctl images ls PATTERN` shows what matches)",
            images.len()
        );
    }
    let digests_of = |wanted: &dyn Fn(&Image) -> bool| -> HashSet<&str> {
        images
            .iter()
            .filter(|i| !i.digest.is_empty() && wanted(i))
            .map(|i| i.digest.as_str())
            .collect()
    };
    let in_use = digests_of(&|i| container_images.contains(&i.reference));
    let system = digests_of(&|i| is_system_reference(&i.reference));
    let mut selection = Selection::default();
    for image in &matched {
        let reference = image.reference.clone();
        let digest = image.digest.as_str();
        if !keep.include_in_use
            && (in_use.contains(digest) || container_images.contains(&reference))
        {
            selection.in_use.push(reference);
        } else if !keep.include_system
            && (system.contains(digest) || is_system_reference(&reference))
        {
            selection.system.push(reference);
        } else {
            selection.remove.push(reference);
        }
    }
    let same_image = |a: &Image, b: &Image| !a.digest.is_empty() && a.digest == b.digest;
    let unmatched_ids = images
        .iter()
        .filter(|i| is_id_ref(&i.reference) && !matcher.matches(&i.reference));
    let mut ids = Vec::new();
    for id in unmatched_ids {
        let named = images
            .iter()
            .filter(|o| !is_id_ref(&o.reference) && same_image(o, id));
        let (removed, left): (Vec<&Image>, Vec<&Image>) =
            named.partition(|o| selection.remove.contains(&o.reference));
        if !removed.is_empty() && left.is_empty() {
            ids.push(id.reference.clone());
        }
    }
    selection.remove.extend(ids);
    Ok(selection)
}

/// Parse `ctr containers ls`: a header starting with `CONTAINER`, then ID,
/// IMAGE and RUNTIME per line. Returns the images (`-` means none).
pub fn parse_container_images(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?;
            let image = fields.next()?;
            (id != "CONTAINER" && image != "-").then(|| image.to_string())
        })
        .collect()
}

/// `ctr [--namespace NS] images ls`.
pub fn list_command(tools: &Tools, containerd_namespace: &str) -> CommandLine {
    tools.ctr(containerd_namespace, ["images", "ls"])
}

/// `ctr [--namespace NS] containers ls`: every container and its image.
pub fn containers_command(tools: &Tools, containerd_namespace: &str) -> CommandLine {
    tools.ctr(containerd_namespace, ["containers", "ls"])
}

/// One `ctr [--namespace NS] images rm REF...` per batch.
pub fn remove_plan(
    tools: &Tools,
    containerd_namespace: &str,
    refs: &[String],
    batch: usize,
) -> Plan {
    let base = remove_command(tools, containerd_namespace);
    Plan::batched(&base, refs, batch, "Removing", "image refs")
}

/// `ctr images rm`, before the refs.
pub fn remove_command(tools: &Tools, containerd_namespace: &str) -> CommandLine {
    tools.ctr(containerd_namespace, ["images", "rm"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tools::ToolFlavor;

    const TABLE: &str = "\
REF                                              TYPE                                                 DIGEST         SIZE      PLATFORMS     LABELS
images.test/calico/cni:v3.25.1                   application/vnd.docker.distribution.manifest.v2+json sha256:01       85.5 MiB  linux/amd64   io.cri-containerd.image=managed
registry.example/x/binder-teaching-1:abc         application/vnd.docker.distribution.manifest.v2+json sha256:03       2.1 GiB   linux/amd64   io.cri-containerd.image=managed
registry.example/x/binder-teaching-1@sha256:03   application/vnd.docker.distribution.manifest.v2+json sha256:03       2.1 GiB   linux/amd64   io.cri-containerd.image=managed
registry.example/x/binder-teaching-2:def         application/vnd.docker.distribution.manifest.v2+json sha256:04       2.3 GiB   linux/amd64   io.cri-containerd.image=managed
registry.example/x/shared:latest                 application/vnd.docker.distribution.manifest.v2+json sha256:04       2.3 GiB   linux/amd64   io.cri-containerd.image=managed
sha256:aa01                                      application/vnd.docker.distribution.manifest.v2+json sha256:01       85.5 MiB  linux/amd64   io.cri-containerd.image=managed
sha256:aa03                                      application/vnd.docker.distribution.manifest.v2+json sha256:03       2.1 GiB   linux/amd64   io.cri-containerd.image=managed
sha256:aa04                                      application/vnd.docker.distribution.manifest.v2+json sha256:04       2.3 GiB   linux/amd64   io.cri-containerd.image=managed
";

    #[test]
    fn parses_ref_and_digest_columns() {
        let (header, images) = parse_ctr_images(TABLE);
        assert!(header.unwrap().starts_with("REF "));
        assert_eq!(images.len(), 8);
        assert_eq!(images[0].reference, "images.test/calico/cni:v3.25.1");
        assert_eq!(images[0].digest, "sha256:01");
        assert!(parse_ctr_images("").1.is_empty());
        assert!(parse_ctr_images("REF TYPE DIGEST\n\n").1.is_empty());
    }

    fn refs(images: &[Image], pattern: &str, regex: bool) -> Vec<String> {
        let matcher = Matcher::new(pattern, regex).unwrap();
        select(images, &matcher, &[], Keep::default())
            .unwrap()
            .remove
    }

    #[test]
    fn removes_id_refs_only_when_no_other_name_uses_the_image() {
        let (_, images) = parse_ctr_images(TABLE);
        assert_eq!(
            refs(&images, "teaching", false),
            vec![
                "registry.example/x/binder-teaching-1:abc",
                "registry.example/x/binder-teaching-1@sha256:03",
                "registry.example/x/binder-teaching-2:def",
                // sha256:aa03 goes too; sha256:aa04 stays for x/shared:latest.
                "sha256:aa03",
            ]
        );
        assert_eq!(
            refs(&images, r"teaching-\d:", true),
            vec![
                "registry.example/x/binder-teaching-1:abc",
                "registry.example/x/binder-teaching-2:def"
            ]
        );
        assert!(refs(&images, "nothing-like-this", false).is_empty());
    }

    #[test]
    fn a_pattern_matching_every_image_is_refused() {
        let (_, images) = parse_ctr_images(TABLE);
        for (pattern, regex) in [("", true), (".", true), (":", false)] {
            let matcher = Matcher::new(pattern, regex).unwrap();
            let err = select(&images, &matcher, &[], Keep::default()).unwrap_err();
            assert!(err.to_string().contains("matches every image"), "{err}");
        }
    }

    #[test]
    fn images_in_use_are_kept_back_with_their_id_refs() {
        let (_, images) = parse_ctr_images(TABLE);
        let matcher = Matcher::new("teaching", false).unwrap();
        // The container names the image by its tag; its digest ref is in use too.
        let used = vec!["registry.example/x/binder-teaching-1:abc".to_string()];
        let selection = select(&images, &matcher, &used, Keep::default()).unwrap();
        assert_eq!(
            selection.remove,
            vec!["registry.example/x/binder-teaching-2:def"]
        );
        assert_eq!(
            selection.in_use,
            vec![
                "registry.example/x/binder-teaching-1:abc",
                "registry.example/x/binder-teaching-1@sha256:03"
            ]
        );
        let keep = Keep {
            include_in_use: true,
            ..Keep::default()
        };
        let selection = select(&images, &matcher, &used, keep).unwrap();
        assert!(selection.remove.contains(&"sha256:aa03".to_string()));
        assert!(selection.in_use.is_empty());
    }

    #[test]
    fn system_images_are_kept_back() {
        for system in [
            "registry.k8s.io/pause:3.7",
            "k8s.gcr.io/pause:3.1",
            "images.test/library/pause:3.9",
            "quay.io/jupyterhub/k8s-hub:3.3.7",
            "jupyterhub/configurable-http-proxy:4.6.1",
            "docker.io/jupyterhub/k8s-network-tools:3.3.7",
            "quay.io/jupyterhub/k8s-binderhub:1.0.0-0.dev.git.3506.hba24eb2a",
            "docker.io/calico/node:v3.28.1",
            "docker.io/coredns/coredns:1.10.1",
            "docker.io/kubernetesui/dashboard:v2.7.0",
            "docker.io/cdkbot/hostpath-provisioner:1.5.0",
            "registry.k8s.io/metrics-server/metrics-server@sha256:01",
        ] {
            assert!(is_system_reference(system), "{system}");
        }
        for user in [
            "registry.example/lab/binder-owner-2dbinderhub-2dexample-1a2b3c:4d5e",
            "registry.example/lab/binder-owner-2dpause-0a1b2c:3d4e",
            "registry.example/x/binder-teaching-1:abc",
            "sha256:aa03",
        ] {
            assert!(!is_system_reference(user), "{user}");
        }
        let (_, images) = parse_ctr_images(TABLE);
        let matcher = Matcher::new("calico", false).unwrap();
        let selection = select(&images, &matcher, &[], Keep::default()).unwrap();
        assert!(selection.remove.is_empty());
        assert_eq!(selection.system, vec!["images.test/calico/cni:v3.25.1"]);
        let keep = Keep {
            include_system: true,
            ..Keep::default()
        };
        let selection = select(&images, &matcher, &[], keep).unwrap();
        assert_eq!(
            selection.remove,
            vec!["images.test/calico/cni:v3.25.1", "sha256:aa01"]
        );
    }

    #[test]
    fn parses_container_images() {
        let out = "CONTAINER    IMAGE                                       RUNTIME\n\
                   c1           registry.example/lab/binder-teaching:abc    io.containerd.runc.v2\n\
                   c2           -                                           io.containerd.runc.v2\n";
        assert_eq!(
            parse_container_images(out),
            vec!["registry.example/lab/binder-teaching:abc"]
        );
        assert!(parse_container_images("CONTAINER IMAGE RUNTIME\n").is_empty());
    }

    #[test]
    fn substring_is_literal_and_regex_is_checked() {
        let literal = Matcher::new("a.b", false).unwrap();
        assert!(literal.matches("xa.by"));
        assert!(!literal.matches("axb"));
        assert!(Matcher::new("a.b", true).unwrap().matches("axb"));
        let err = Matcher::new("(", true).unwrap_err();
        assert!(err.to_string().contains("\"(\""), "{err}");
    }

    #[test]
    fn remove_plan_batches_refs() {
        let tools = Tools::new(ToolFlavor::Microk8s);
        let refs: Vec<String> = ["a:1", "b:2", "c:3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // The wrapper adds --namespace k8s.io itself; ctr refuses two forms.
        assert_eq!(
            remove_plan(&tools, "k8s.io", &refs, 2).render(),
            "microk8s ctr images rm a:1 b:2\nmicrok8s ctr images rm c:3\n"
        );
        assert_eq!(
            list_command(&Tools::new(ToolFlavor::Plain), "k8s.io").to_string(),
            "ctr --namespace k8s.io images ls"
        );
        assert_eq!(
            containers_command(&tools, "k8s.io").to_string(),
            "microk8s ctr containers ls"
        );
    }
}
