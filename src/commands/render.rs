//! `binderctl render`: binder.yaml in, _binder.yaml out (or `--check` it).

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, RenderArgs, RenderCmd};
use crate::cluster::runner::interrupted;
use crate::commands::deploy::placeholder_problems;
use crate::egress::allow_list;
use crate::egress::cidr;
use crate::error::{Interrupted, Outcome, Problems};
use crate::fsutil;
use crate::ops::render::{self, Rendered};
use crate::output;
use crate::values::transform;

pub async fn run(_global: &GlobalArgs, cmd: &RenderCmd) -> Result<Outcome> {
    let args = &cmd.render;
    // --check reads the output (a FIFO would hang it), --stdout ignores it.
    if !cmd.stdout {
        refuse_overwriting_input(args, &[])?;
    }
    let rendered = render_interruptibly(args)
        .await
        .map_err(|e| nothing_written(e, args))?;
    for w in placeholder_problems(&rendered.values, &args.input.display().to_string()) {
        render::warn(&format!("{w} (`binderctl deploy` refuses to deploy it)"));
    }

    if cmd.check {
        let outcome = check(args, &rendered, output::is_quiet())?;
        output::info(&format!("binderctl: {}", rendered.summary));
        return Ok(outcome);
    }
    if cmd.stdout {
        output::data(&rendered.text);
        output::info(&format!("binderctl: {}", rendered.summary));
        return Ok(Outcome::Success);
    }
    fsutil::write_atomic_like(&args.output, rendered.text.as_bytes(), Some(&args.input))?;
    output::info(&format!(
        "binderctl: {} → {}",
        rendered.summary,
        args.output.display()
    ));
    Ok(Outcome::Success)
}

/// The output must never replace the operator's own files (the input, and
/// `others`: deploy's secret and values files), nor anything that is not a
/// regular file.
pub fn refuse_overwriting_input(args: &RenderArgs, others: &[(&str, &Path)]) -> Result<()> {
    let mut inputs = vec![("the input file", args.input.as_path())];
    inputs.extend_from_slice(others);
    fsutil::refuse_output(&args.output, &inputs)
}

/// Render, unless interrupted first: Ctrl-C or SIGTERM during the lookups
/// ends the run at once, with nothing written.
pub async fn render_interruptibly(args: &RenderArgs) -> Result<Rendered> {
    tokio::select! {
        rendered = render::render(args) => rendered,
        () = interrupted() => Err(Interrupted.into()),
    }
}

/// Say, after the problems, that the previous output is intact.
fn nothing_written(err: anyhow::Error, args: &RenderArgs) -> anyhow::Error {
    if err.downcast_ref::<Interrupted>().is_some() {
        return err;
    }
    let mut lines: Vec<String> = format!("{err:#}").lines().map(str::to_string).collect();
    if args.output.exists() {
        lines.push(format!(
            "nothing written; {} is unchanged",
            args.output.display()
        ));
    } else {
        lines.push("nothing written".to_string());
    }
    Problems(lines).into()
}

/// Compare a fresh render with the existing output: exit 0 when it would not
/// change, 1 (with the changes per source) when it would.
fn check(args: &RenderArgs, rendered: &Rendered, quiet: bool) -> Result<Outcome> {
    let path = args.output.display();
    let existing = match std::fs::read_to_string(&args.output) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            output::data_line(&format!(
                "{path} does not exist yet; `binderctl render` would create it"
            ));
            return Ok(Outcome::Changed);
        }
        Err(e) => return Err(e).with_context(|| format!("{path}: cannot read")),
    };
    if existing == rendered.text {
        if !quiet {
            output::data_line(&format!("{path} is up to date"));
        }
        return Ok(Outcome::Success);
    }

    let changes = match allow_list::parse_record(&existing) {
        Some(old) => allow_list::compare(&old, &rendered.record),
        // Written by something else (the old script, which never merged):
        // compare the rule's addresses, so regrouping is not a change.
        None => {
            let old: Vec<cidr::IpNet> = serde_yaml::from_str(&existing)
                .ok()
                .and_then(|v| transform::generated_cidrs(&v, rendered.user_egress_rules))
                .unwrap_or_default()
                .iter()
                .filter_map(|c| cidr::parse(c).ok())
                .collect();
            let (added, removed) = cidr::diff(&old, &rendered.merged);
            let texts = |nets: Vec<cidr::IpNet>| nets.iter().map(ToString::to_string).collect();
            let change = allow_list::SourceChange {
                label: "egress rule (the existing file records no sources)".to_string(),
                added: texts(added),
                removed: texts(removed),
            };
            let changed = !change.added.is_empty() || !change.removed.is_empty();
            changed.then_some(change).into_iter().collect()
        }
    };

    output::data_line(&format!("{path} would change:"));
    for change in &changes {
        output::data_line(&format!("  {}:", change.label));
        for net in &change.added {
            output::data_line(&format!("    + {net}"));
        }
        for net in &change.removed {
            output::data_line(&format!("    - {net}"));
        }
    }
    if changes.is_empty() {
        output::data_line(&format!("  the egress ranges are the same; other values differ ({} edited since the last render?)", args.input.display()));
    }
    Ok(Outcome::Changed)
}
