//! `binderctl diff` (and `deploy --diff`): what a deploy would change in the
//! release's values, before it runs: secret.yaml, the render and the extra
//! values files merged as Helm merges them, against `helm get values`, as a
//! readable diff with every secret masked. Exit 0 when nothing would
//! change, 1 when something would, 2 on error (helm-diff's
//! `--detailed-exitcode`).

use crate::error::ShownPath;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_yaml::Value;

use crate::cluster::confirm::confirm;
use crate::cluster::plan::{CommandLine, Plan};
use crate::cluster::runner::Runner;
use crate::cluster::target::Target;
use crate::cluster::tools::ToolFlavor;
use crate::cluster::tools::Tools;
use crate::error::{Interrupted, NotConfirmed, Outcome, ToolFailed};
use crate::ops::render;
use crate::output;
use crate::values::diff::{leaf_paths, line_diff, mask_pair, merge, yaml_text};

use crate::ops::render::RenderOptions;

/// What `diff` is asked to do.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub render: RenderOptions,
    pub values: Vec<PathBuf>,
    pub secret: PathBuf,
}

/// `helm get values RELEASE -n NS -o json`: the values the release was
/// given (not the chart's defaults).
pub fn get_values_command(tools: &Tools, release: &str, namespace: &str) -> CommandLine {
    tools.helm(["get", "values", release, "-n", namespace, "-o", "json"])
}

/// Sample plans for the conformance registry.
pub fn sample_plans() -> Vec<Plan> {
    [ToolFlavor::Microk8s, ToolFlavor::Plain]
        .into_iter()
        .map(|flavor| {
            let mut plan = Plan::new();
            plan.push_command(get_values_command(&Tools::new(flavor), "binder", "binder"));
            plan
        })
        .collect()
}

/// The deployed values; `None` when the release is not installed.
async fn deployed_values(runner: &Runner, tools: &Tools, target: &Target) -> Result<Option<Value>> {
    let command = get_values_command(tools, &target.release, &target.namespace);
    let captured = runner.probe(&command).await?;
    if !captured.success() {
        if captured.stderr.contains("not found") {
            return Ok(None);
        }
        output::tool_stderr(&captured.stderr);
        return Err(ToolFailed {
            command: command.to_string(),
            code: captured.code,
            printed: captured.stdout.clone(),
        }
        .into());
    }
    let values: Value = serde_yaml::from_str(&captured.stdout)
        .with_context(|| format!("`{command}` printed something other than the expected JSON"))?;
    Ok(Some(values))
}

/// What a deploy passes Helm: secret.yaml, the render, the extra files, in
/// that order; and the leaf paths that came from secret.yaml (masked).
fn wanted_values(
    secret: &Path,
    rendered: &Value,
    extras: &[PathBuf],
) -> Result<(Value, Vec<Vec<String>>)> {
    super::preflight::check_secret(secret)?;
    // check_secret has parsed it; read as Helm reads it, with the same
    // bounds (and parse errors that never quote the file).
    let text = crate::ops::input::read_text(secret)?;
    let secret_values = crate::values::read::parse_values(&text, &secret.shown().to_string())
        .map_err(|_| anyhow::anyhow!("{}: not valid YAML", secret.shown()))?
        .value;
    let mut wanted = secret_values.clone();
    merge(&mut wanted, rendered);
    for extra in extras {
        merge(&mut wanted, &render::read_values(extra)?);
    }
    Ok((wanted, leaf_paths(&secret_values)))
}

/// The diff text (empty when nothing would change).
fn diff_text(deployed: Option<&Value>, wanted: &Value, secret_paths: &[Vec<String>]) -> String {
    let mut old = deployed.cloned().unwrap_or(Value::Null);
    let mut new = wanted.clone();
    mask_pair(&mut old, &mut new, secret_paths);
    line_diff(&yaml_text(&old), &yaml_text(&new))
}

/// Print the diff with its header; whether anything would change.
fn print_diff(target: &Target, deployed: Option<&Value>, text: &str, sources: &str) -> bool {
    if deployed.is_none() {
        output::info(&format!(
            "binderctl: release {} is not installed in namespace {}: everything is new",
            target.release, target.namespace
        ));
    }
    if text.is_empty() {
        output::info(&format!(
            "binderctl: no changes: release {} in namespace {} already has these values",
            target.release, target.namespace
        ));
        return false;
    }
    output::data(&format!(
        "--- deployed: release {} in namespace {} (helm get values)\n+++ to deploy: {sources}\n{text}",
        target.release, target.namespace
    ));
    true
}

fn sources(secret: &Path, input: &Path, extras: &[PathBuf]) -> String {
    let mut names = vec![
        secret.shown().to_string(),
        format!("{} rendered", input.shown()),
    ];
    names.extend(extras.iter().map(|p| p.shown().to_string()));
    names.join(", ")
}

pub async fn run(target: &Target, options: &DiffOptions) -> Result<Outcome> {
    // 1 means "would change": every error, a failed tool's too, is 2.
    compare(target, options).await.map_err(|e| {
        if e.downcast_ref::<Interrupted>().is_some() {
            e
        } else {
            anyhow::anyhow!("{e:#}")
        }
    })
}

async fn compare(target: &Target, options: &DiffOptions) -> Result<Outcome> {
    let tools = Tools::for_target(target);
    let runner = Runner::new(false);
    // The render (DNS, HTTPS) and the deployed values do not wait for each other.
    let (rendered, deployed) = tokio::join!(
        render::render(&options.render),
        deployed_values(&runner, &tools, target)
    );
    let (rendered, deployed) = (rendered?, deployed?);
    let (wanted, secret_paths) = wanted_values(&options.secret, &rendered.values, &options.values)?;
    let text = diff_text(deployed.as_ref(), &wanted, &secret_paths);
    let changed = print_diff(
        target,
        deployed.as_ref(),
        &text,
        &sources(&options.secret, &options.render.input, &options.values),
    );
    Ok(if changed {
        Outcome::Changed
    } else {
        Outcome::Success
    })
}

/// For `deploy --diff` (when `wanted`): the deployed values (`None` inside
/// when the release is not installed), read while the render runs.
pub async fn deployed_for_diff(
    wanted: bool,
    runner: &Runner,
    tools: &Tools,
    target: &Target,
) -> Result<Option<Option<Value>>> {
    if !wanted {
        return Ok(None);
    }
    deployed_values(runner, tools, target).await.map(Some)
}

/// `deploy --diff`: show what the upgrade would change, then ask before it
/// runs (not with `--dry-run`, which changes nothing anyway).
/// The files whose values Helm merges for a deploy, in its order:
/// secret.yaml, the render of `input`, then each `-f` file.
#[derive(Debug, Clone, Copy)]
pub struct ValuesFiles<'a> {
    pub secret: &'a Path,
    pub input: &'a Path,
    pub extra: &'a [PathBuf],
}

pub async fn before_deploy(
    runner: &Runner,
    target: &Target,
    files: &ValuesFiles<'_>,
    assume_yes: bool,
    deployed: Option<&Value>,
    rendered: &Value,
) -> Result<()> {
    let (wanted, secret_paths) = wanted_values(files.secret, rendered, files.extra)?;
    let text = diff_text(deployed, &wanted, &secret_paths);
    print_diff(
        target,
        deployed,
        &text,
        &sources(files.secret, files.input, files.extra),
    );
    if runner.is_dry_run() {
        return Ok(());
    }
    let question = format!(
        "Upgrade release {} in namespace {}{}?",
        target.release,
        target.namespace,
        if text.is_empty() {
            " (its values stay the same)"
        } else {
            " with these changes"
        }
    );
    if !confirm(&question, assume_yes).await? {
        return Err(NotConfirmed("nothing deployed".into()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_masks_secret_yaml_and_secret_keys() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.yaml");
        std::fs::write(
            &secret,
            "registry:\n  username: lab\n  password: dckr_pat_NEW\n",
        )
        .unwrap();
        let rendered: Value = serde_yaml::from_str(
            "config: {BinderHub: {hub_url: 'http://192.0.2.100'}}\njupyterhub: {proxy: {secretToken: s3cr3t}}\n",
        )
        .unwrap();
        let (wanted, paths) = wanted_values(&secret, &rendered, &[]).unwrap();
        let deployed: Value = serde_json::from_str(
            r#"{"config":{"BinderHub":{"hub_url":"http://192.0.2.99"}},"jupyterhub":{"proxy":{"secretToken":"s3cr3t"}},"registry":{"password":"dckr_pat_OLD","username":"lab"}}"#,
        )
        .unwrap();
        let text = diff_text(Some(&deployed), &wanted, &paths);
        assert!(text.contains("-    hub_url: http://192.0.2.99\n"), "{text}");
        assert!(
            text.contains("+    hub_url: http://192.0.2.100\n"),
            "{text}"
        );
        assert!(text.contains("+  password: (secret, changed)\n"), "{text}");
        for secret in ["dckr_pat_NEW", "dckr_pat_OLD", "s3cr3t"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(diff_text(Some(&wanted.clone()), &wanted, &paths), "");
    }

    #[test]
    fn samples() {
        assert_eq!(
            sample_plans()[0].render(),
            "microk8s helm get values binder -n binder -o json\n"
        );
    }
}
