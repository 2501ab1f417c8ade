//! `binderctl render`: binder.yaml in, _binder.yaml out (or `--check` it).

use crate::error::ShownPath;

use anyhow::{Context, Result};

use crate::cluster::target::Target;
use crate::egress::allow_list;
use crate::egress::cidr;
use crate::error::{Interrupted, Outcome, Problems};
use crate::fsutil;
use crate::ops::preflight::placeholder_problems;
use crate::ops::render::{self, refuse_overwriting_input, render_interruptibly, Rendered};
use crate::output;
use crate::values::settings::{self, AllowListMode};
use crate::values::transform;

use crate::ops::render::RenderOptions;

/// What `render` is asked to do: the render, and where its text goes.
#[derive(Debug, Clone)]
pub struct RenderFileOptions {
    pub render: RenderOptions,
    pub stdout: bool,
    pub check: bool,
}

pub async fn run(target: &Target, options: &RenderFileOptions) -> Result<Outcome> {
    // --check reads the output (a FIFO would hang it), --stdout ignores it.
    if !options.stdout {
        refuse_overwriting_input(&options.render, &[])?;
    }
    // The host's resolver unless `--nameserver cluster` asks for the cluster's.
    let tools = crate::cluster::tools::Tools::for_target(target);
    let chosen = super::nameservers::choose(
        &crate::cluster::runner::Runner::new(false),
        &tools,
        &options.render,
        false,
    )
    .await?;
    let args = &chosen;
    let rendered = render_interruptibly(args)
        .await
        .map_err(|e| nothing_written(e, args))?;
    for w in placeholder_problems(&rendered.values, &args.input.shown().to_string()) {
        render::warn(&format!("{w} (`binderctl deploy` refuses to deploy it)"));
    }

    if options.check {
        let outcome = check(args, &rendered, output::is_quiet())?;
        output::info(&format!("binderctl: {}", rendered.summary));
        return Ok(outcome);
    }
    if options.stdout {
        output::data(&rendered.text);
        output::info(&format!("binderctl: {}", rendered.summary));
        return Ok(Outcome::Success);
    }
    fsutil::write_atomic_like(&args.output, rendered.text.as_bytes(), Some(&args.input))?;
    output::info(&format!(
        "binderctl: {} → {}",
        rendered.summary,
        args.output.shown()
    ));
    Ok(Outcome::Success)
}

/// Say, after the problems, that the previous output is intact.
fn nothing_written(err: anyhow::Error, args: &RenderOptions) -> anyhow::Error {
    if err.downcast_ref::<Interrupted>().is_some() {
        return err;
    }
    let mut lines: Vec<String> = format!("{err:#}").lines().map(str::to_string).collect();
    if args.output.exists() {
        lines.push(format!(
            "nothing written; {} is unchanged",
            args.output.shown()
        ));
    } else {
        lines.push("nothing written".to_string());
    }
    Problems(lines).into()
}

/// Compare a fresh render with the existing output by meaning: exit 0 when
/// it would allow the same and hold the same values (the spelling of the
/// input path in the header, the grouping of ranges, an address inside a
/// range already allowed are no change), 1 (with the changes per source)
/// when it would not.
fn check(args: &RenderOptions, rendered: &Rendered, quiet: bool) -> Result<Outcome> {
    let path = args.output.shown();
    let existing = match std::fs::metadata(&args.output) {
        Ok(_) => crate::ops::input::read_text(&args.output)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            output::data_line(&format!(
                "{path} does not exist yet; `binderctl render` would create it"
            ));
            return Ok(Outcome::Changed);
        }
        Err(e) => return Err(e).with_context(|| format!("{path}: cannot read")),
    };
    // Read as Helm reads it, with the same bounds as every input.
    let old_values = crate::values::read::parse_values(&existing, &path.to_string())
        .ok()
        .map(|reading| reading.value);
    let index = rendered.user_egress_rules;
    let (old_rest, old_rule) = match &old_values {
        Some(v) => split_generated_rule(v, index),
        None => (serde_yaml::Value::Null, Vec::new()),
    };
    let (new_rest, new_rule) = split_generated_rule(&rendered.values, index);
    let (added, removed) = cidr::diff(&old_rule, &new_rule);
    let ranges_differ = !added.is_empty() || !removed.is_empty();
    let values_differ = old_values.is_none() || old_rest != new_rest;
    if !ranges_differ && !values_differ {
        if !quiet && rendered.mode == AllowListMode::Policy {
            output::data_line(&format!(
                "{path} is up to date (the allow-list itself is in NetworkPolicy \
                 binderctl-egress: `binderctl egress check` compares that)"
            ));
        } else if !quiet {
            output::data_line(&format!("{path} is up to date"));
        }
        return Ok(Outcome::Success);
    }

    let old_record = allow_list::parse_record(&existing);
    let mut changes = match &old_record {
        Some(old) if ranges_differ => allow_list::compare(old, &rendered.record),
        _ => Vec::new(),
    };
    // No record (the old script never wrote one), or a rule edited by hand.
    if ranges_differ && changes.is_empty() {
        let texts = |nets: Vec<cidr::IpNet>| nets.iter().map(ToString::to_string).collect();
        let label = match old_record {
            None => "egress rule (the existing file records no sources)",
            Some(_) => "egress rule (edited by hand? its sources did not change)",
        };
        changes.push(allow_list::SourceChange {
            label: label.to_string(),
            added: texts(added),
            removed: texts(removed),
        });
    }
    output::data_line(&format!("{path} would change:"));
    output::data(&super::egress::policies::format_changes(&changes));
    if values_differ {
        output::data_line(&format!(
            "  other values differ ({} edited since the last render?)",
            args.input.shown()
        ));
    }
    Ok(Outcome::Changed)
}

/// The values without binderctl's generated egress rule (the rule at
/// `index`, when it has the generated rule's shape), and that rule's ranges.
fn split_generated_rule(
    values: &serde_yaml::Value,
    index: usize,
) -> (serde_yaml::Value, Vec<cidr::IpNet>) {
    let Some(cidrs) = transform::generated_cidrs(values, index) else {
        return (values.clone(), Vec::new());
    };
    let mut rest = values.clone();
    let rules = settings::NETWORK_POLICY
        .iter()
        .chain([&settings::KEY_EGRESS])
        .try_fold(&mut rest, |v, key| v.get_mut(*key));
    if let Some(serde_yaml::Value::Sequence(rules)) = rules {
        rules.remove(index);
    }
    let nets = cidrs.iter().filter_map(|c| cidr::parse(c).ok()).collect();
    (rest, nets)
}
