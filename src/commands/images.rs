//! `binderctl images ls|rm`: the container images containerd keeps on this
//! node for Kubernetes (`ctr -n k8s.io images ...`). Only this node: each
//! node has its own containerd.

use anyhow::{bail, Context, Result};
use regex::Regex;

use serde::Serialize;

use crate::cli::{GlobalArgs, ImageMatch, ImagesCmd, OutputArgs};
use crate::cluster::confirm::confirm;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::Runner;
use crate::cluster::tools::Tools;
use crate::error::{NotConfirmed, Outcome};
use crate::output;
use crate::output::table::{format_table_styled, TableStyle};
use crate::output::{format, plural};

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

fn print_images(output: &OutputArgs, header: Option<&str>, images: &[&Image]) -> Result<()> {
    let records: Vec<ImageRecord> = images.iter().map(|i| ImageRecord::new(i)).collect();
    format::print(
        output,
        &records,
        || images.iter().map(|i| i.reference.clone()).collect(),
        |style| format_images(header, images, style),
    )
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

/// The refs to remove for `matcher`: the matching refs plus the image-ID
/// refs (`sha256:...`) of the same images, so containerd can free the space,
/// unless a named ref that does not match still uses that image.
pub fn select_refs(images: &[Image], matcher: &Matcher) -> Vec<String> {
    let matched: Vec<&Image> = images
        .iter()
        .filter(|i| matcher.matches(&i.reference))
        .collect();
    let mut refs: Vec<String> = matched.iter().map(|i| i.reference.clone()).collect();
    let unmatched_ids: Vec<&Image> = images
        .iter()
        .filter(|i| is_id_ref(&i.reference) && !refs.contains(&i.reference))
        .collect();
    for image in unmatched_ids {
        let same_image = |other: &&Image| !other.digest.is_empty() && other.digest == image.digest;
        let named_matched = matched
            .iter()
            .any(|m| !is_id_ref(&m.reference) && same_image(m));
        let named_kept = images
            .iter()
            .filter(|o| !is_id_ref(&o.reference) && !matcher.matches(&o.reference))
            .any(|o| same_image(&o));
        if named_matched && !named_kept {
            refs.push(image.reference.clone());
        }
    }
    refs
}

/// `ctr -n NS images ls`.
pub fn list_command(tools: &Tools, containerd_namespace: &str) -> CommandLine {
    tools.ctr(["-n", containerd_namespace, "images", "ls"])
}

/// One `ctr -n NS images rm REF...` per batch.
pub fn remove_plan(
    tools: &Tools,
    containerd_namespace: &str,
    refs: &[String],
    batch: usize,
) -> Plan {
    let base = tools.ctr(["-n", containerd_namespace, "images", "rm"]);
    Plan::batched(&base, refs, batch, "Removing", "image refs")
}

const THIS_NODE_ONLY: &str =
    "Note: these are the images of this node only; run binderctl on each node to clean it.";

async fn fetch(
    runner: &Runner,
    tools: &Tools,
    matching: &ImageMatch,
) -> Result<(Option<String>, Vec<Image>)> {
    let output = runner
        .query(&list_command(tools, &matching.containerd_namespace))
        .await?;
    Ok(parse_ctr_images(&output))
}

pub async fn run(global: &GlobalArgs, cmd: &ImagesCmd) -> Result<Outcome> {
    let tools = Tools::from_global(global);
    match cmd {
        ImagesCmd::Ls {
            pattern,
            matching,
            output,
        } => {
            let matcher = pattern
                .as_deref()
                .map(|p| Matcher::new(p, matching.regex))
                .transpose()?;
            let (header, images) = fetch(&Runner::new(false), &tools, matching).await?;
            let shown: Vec<&Image> = images
                .iter()
                .filter(|i| matcher.as_ref().is_none_or(|m| m.matches(&i.reference)))
                .collect();
            if shown.is_empty() && format::is_table(output) {
                output::info("No images match.");
            } else {
                print_images(output, header.as_deref(), &shown)?;
            }
            output::info(THIS_NODE_ONLY);
            Ok(Outcome::Success)
        }
        ImagesCmd::Rm {
            pattern,
            matching,
            yes,
            dry_run,
            batch_size,
        } => {
            if pattern.is_empty() {
                bail!("the pattern is empty, which would match every image; name what to remove");
            }
            let matcher = Matcher::new(pattern, matching.regex)?;
            let runner = Runner::new(*dry_run);
            let (_, images) = fetch(&runner, &tools, matching).await?;
            let refs = select_refs(&images, &matcher);
            output::info(THIS_NODE_ONLY);
            if refs.is_empty() {
                output::info(&format!("No images match {pattern:?}; nothing removed."));
                return Ok(Outcome::Success);
            }
            output::info(&format!(
                "{} on this node will be removed:",
                plural(refs.len(), "image ref", "image refs")
            ));
            for reference in &refs {
                output::info(&format!("  {reference}"));
            }
            if !*dry_run {
                let question = format!(
                    "Remove {} from this node?",
                    plural(refs.len(), "image ref", "image refs")
                );
                if !confirm(&question, *yes).await? {
                    return Err(NotConfirmed("nothing removed".into()).into());
                }
            }
            let plan = remove_plan(
                &tools,
                &matching.containerd_namespace,
                &refs,
                batch_size.get(),
            );
            let outputs = runner.execute(&plan).await?;
            if !*dry_run {
                // ctr prints each ref it removed and only warns about missing ones.
                let removed = outputs
                    .iter()
                    .flat_map(|o| o.lines())
                    .filter(|line| refs.iter().any(|r| r == line.trim()))
                    .count();
                output::info(&format!(
                    "Removed {removed} of {}.",
                    plural(refs.len(), "image ref", "image refs")
                ));
            }
            Ok(Outcome::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ToolFlavor;

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

    #[test]
    fn removes_id_refs_only_when_no_other_name_uses_the_image() {
        let (_, images) = parse_ctr_images(TABLE);
        let refs = select_refs(&images, &Matcher::new("teaching", false).unwrap());
        assert_eq!(
            refs,
            vec![
                "registry.example/x/binder-teaching-1:abc",
                "registry.example/x/binder-teaching-1@sha256:03",
                "registry.example/x/binder-teaching-2:def",
                // sha256:aa03 goes too; sha256:aa04 stays for x/shared:latest.
                "sha256:aa03",
            ]
        );
        let refs = select_refs(&images, &Matcher::new(r"teaching-\d:", true).unwrap());
        assert_eq!(
            refs,
            vec![
                "registry.example/x/binder-teaching-1:abc",
                "registry.example/x/binder-teaching-2:def"
            ]
        );
        assert!(
            select_refs(&images, &Matcher::new("nothing-like-this", false).unwrap()).is_empty()
        );
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
        assert_eq!(
            remove_plan(&tools, "k8s.io", &refs, 2).render(),
            "microk8s ctr -n k8s.io images rm a:1 b:2\nmicrok8s ctr -n k8s.io images rm c:3\n"
        );
        assert_eq!(
            list_command(&Tools::new(ToolFlavor::Plain), "k8s.io").to_string(),
            "ctr -n k8s.io images ls"
        );
    }
}
