//! `binderctl render`: binder.yaml in, _binder.yaml out (or `--check` it).

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, RenderArgs, RenderCmd};
use crate::egress::allow_list;
use crate::egress::cidr;
use crate::error::{Outcome, Problems};
use crate::fsutil;
use crate::ops::render::{self, Rendered};
use crate::values::transform;

pub async fn run(_global: &GlobalArgs, cmd: &RenderCmd) -> Result<Outcome> {
    let args = &cmd.render;
    refuse_overwriting_input(args)?;
    let rendered = render::render(args)
        .await
        .map_err(|e| nothing_written(e, args))?;

    let summary = |suffix: &str| {
        if !cmd.quiet {
            eprintln!("binderctl: {}{suffix}", rendered.summary);
        }
    };
    if cmd.check {
        let outcome = check(args, &rendered, cmd.quiet)?;
        if outcome == Outcome::Changed || !cmd.quiet {
            summary("");
        }
        return Ok(outcome);
    }
    if cmd.stdout {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(rendered.text.as_bytes())
            .and_then(|_| stdout.flush())
            .context("cannot write to standard output")?;
        eprintln!("binderctl: {}", rendered.summary);
        return Ok(Outcome::Success);
    }
    fsutil::write_atomic(&args.output, rendered.text.as_bytes())?;
    eprintln!(
        "binderctl: {} → {}",
        rendered.summary,
        args.output.display()
    );
    Ok(Outcome::Success)
}

/// The output must never replace the operator's own file.
pub fn refuse_overwriting_input(args: &RenderArgs) -> Result<()> {
    let same = match (args.input.canonicalize(), args.output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => args.input == args.output,
    };
    if same {
        anyhow::bail!(
            "{}: the output file is the input file; choose another with -o",
            args.output.display()
        );
    }
    Ok(())
}

/// Say, after the problems, that the previous output is intact.
fn nothing_written(err: anyhow::Error, args: &RenderArgs) -> anyhow::Error {
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
    let existing = match std::fs::metadata(&args.output) {
        Ok(_) => crate::ops::input::read_text(&args.output)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{path} does not exist yet; `binderctl render` would create it");
            return Ok(Outcome::Changed);
        }
        Err(e) => return Err(e).with_context(|| format!("{path}: cannot read")),
    };
    if existing == rendered.text {
        if !quiet {
            println!("{path} is up to date");
        }
        return Ok(Outcome::Success);
    }

    let changes = match allow_list::parse_record(&existing) {
        Some(old) => allow_list::compare(&old, &rendered.record),
        // Written by something else (the old script, which never merged):
        // compare the rule's addresses, so regrouping is not a change.
        None => {
            let old: Vec<cidr::IpNet> = crate::values::read::parse_values(&existing, "")
                .ok()
                .and_then(|r| transform::generated_cidrs(&r.value, rendered.user_egress_rules))
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

    println!("{path} would change:");
    for change in &changes {
        println!("  {}:", change.label);
        for net in &change.added {
            println!("    + {net}");
        }
        for net in &change.removed {
            println!("    - {net}");
        }
    }
    if changes.is_empty() {
        println!("  the egress ranges are the same; other values differ (binder.yaml edited since the last render?)");
    }
    Ok(Outcome::Changed)
}
