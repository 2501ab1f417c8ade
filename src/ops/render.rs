//! Rendering: read binder.yaml, look up every address source at once,
//! transform, and produce the text of _binder.yaml. Shared by `render` and
//! `deploy`; writing the file is the caller's business.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_yaml::Value;

use crate::cli::RenderArgs;
use crate::egress::allow_list::{self, Record, Source};
use crate::egress::cidr;
use crate::egress::dns::{self, DnsOptions};
use crate::egress::published::{self, ListKind, ListRequest};
use crate::error::Problems;
use crate::values::settings::{self, Settings};

use crate::values::{read, transform, write};

/// A finished render, not yet written anywhere.
#[derive(Debug)]
pub struct Rendered {
    /// The complete text of the output file.
    pub text: String,
    /// Which source gave which ranges (also at the end of `text`).
    pub record: Record,
    /// The rendered values (what `text` holds).
    pub values: Value,
    /// The merged ranges of the generated egress rule.
    pub merged: Vec<cidr::IpNet>,
    /// How many of the egress rules are the operator's own.
    pub user_egress_rules: usize,
    /// Warnings, one line each (already printed to stderr).
    pub warnings: Vec<String>,
    /// One line for stderr: addresses per source, ipBlocks, time taken.
    pub summary: String,
}

/// Print a warning the way every binderctl warning looks.
pub fn warn(message: &str) {
    eprintln!("binderctl: warning: {message}");
}

/// Read and parse a values file: a clear error naming the file otherwise.
/// Plain values that YAML 1.1 (Helm) reads differently are warned about.
pub fn read_values(path: &Path) -> Result<Value> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("{name}: cannot read"))?;
    let values = read::parse_values(&text, &name)?;
    for ambiguity in read::yaml11_ambiguities(&text) {
        warn(&ambiguity.describe(&name));
    }
    Ok(values)
}

/// Render `args.input`. Every problem (bad keys, unresolvable hosts, lists
/// that cannot be fetched) is collected and returned together as
/// [`Problems`]; nothing is written here.
pub async fn render(args: &RenderArgs) -> Result<Rendered> {
    let started = Instant::now();
    let input = args.input.display().to_string();
    let values = read_values(&args.input)?;
    let settings = settings::read(&values).map_err(|problems| {
        Problems(
            problems
                .into_iter()
                .map(|p| format!("{input}: {p}"))
                .collect(),
        )
    })?;
    let mut warnings: Vec<String> = settings
        .warnings
        .iter()
        .map(|w| format!("{input}: {w}"))
        .collect();

    let timeout = duration_from_secs(args.timeout)?;
    let mut problems = Vec::new();
    let nameservers = args
        .nameservers
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| dns::parse_nameserver(s.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--nameserver: {e}"))?;
    let dns_options = DnsOptions {
        nameservers,
        timeout,
        retries: args.retries,
    };
    let requests = list_requests(args, &settings);

    let (lookups, lists) = tokio::join!(
        async {
            if settings.hosts.is_empty() {
                Ok(Vec::new())
            } else {
                dns::resolve_all(&settings.hosts, &dns_options).await
            }
        },
        async {
            if requests.is_empty() {
                return Ok(Vec::new());
            }
            let client = published::http_client(timeout)?;
            Ok::<_, String>(published::fetch_all(&client, requests, args.retries).await)
        }
    );
    let lookups = lookups.map_err(|e| anyhow::anyhow!("DNS resolver: {e}"))?;
    let lists = lists.map_err(|e| anyhow::anyhow!("HTTP client: {e}"))?;

    let mut sources = vec![Source {
        label: settings::KEY_CIDR_WHITELIST.to_string(),
        nets: settings.cidrs.clone(),
        explicit: true,
    }];
    let mut summary_parts = Vec::new();
    if !settings.cidrs.is_empty() {
        summary_parts.push(format!(
            "{}: {}",
            settings::KEY_CIDR_WHITELIST,
            count(settings.cidrs.len(), "range")
        ));
    }

    let mut addresses = 0;
    let mut resolved_hosts = 0;
    for lookup in &lookups {
        match &lookup.result {
            Ok(ips) => {
                resolved_hosts += 1;
                addresses += ips.len();
                sources.push(Source {
                    label: format!("host {}", lookup.host),
                    nets: ips.iter().map(|ip| cidr::host(*ip)).collect(),
                    explicit: false,
                });
            }
            Err(failure) if args.allow_unresolved => {
                warnings.push(format!("host {}: {failure}; skipped (--allow-unresolved)", lookup.host))
            }
            Err(failure) => problems.push(format!(
                "host {}: {failure} (listed in {input} under {}.{}; pass --allow-unresolved to render without it)",
                lookup.host,
                settings::NETWORK_POLICY.join("."),
                settings::KEY_DOMAIN_WHITELIST
            )),
        }
    }
    if !lookups.is_empty() {
        summary_parts.push(format!(
            "DNS: {} of {} → {}",
            resolved_hosts,
            count(lookups.len(), "host"),
            count(addresses, "address")
        ));
    }

    for list in &lists {
        let name = list.request.kind.name();
        match &list.result {
            Ok(entries) => {
                for key in &list.request.keys {
                    sources.push(Source {
                        label: format!("{name} {key}"),
                        nets: entries
                            .iter()
                            .filter(|(k, _)| k == key)
                            .map(|(_, n)| *n)
                            .collect(),
                        explicit: false,
                    });
                }
                summary_parts.push(format!(
                    "{name} ({}): {}",
                    list.request.keys.join(", "),
                    count(entries.len(), "range")
                ));
            }
            Err(failure) => problems.push(format!("{name} list {}: {failure}", list.request.url)),
        }
    }

    let assembled = allow_list::assemble(&sources, args.allow_default_route);
    let assembled = match assembled {
        Ok(a) if problems.is_empty() => a,
        Ok(_) => return Err(Problems(problems).into()),
        Err(more) => {
            problems.extend(more);
            return Err(Problems(problems).into());
        }
    };
    warnings.extend(assembled.warnings);
    if assembled.merged.is_empty() {
        warnings.push(format!(
            "{input}: no egress ranges at all: no rule is added, user pods reach only what \
             the chart's own rules allow"
        ));
    }

    let output = transform::apply(&values, &settings.whitelist, &assembled.merged);
    let yaml = write::to_string(&output).context("cannot write the rendered values as YAML")?;
    let record = allow_list::record(&sources);
    let text = format!(
        "# Rendered by binderctl from {input}: edit that file and render again;\n\
         # changes made here are overwritten.\n{yaml}{}",
        allow_list::format_record(&record)
    );

    for w in &warnings {
        warn(w);
    }
    summary_parts.push(format!(
        "{} after merging, in {:.2}s",
        count(assembled.merged.len(), "ipBlock"),
        started.elapsed().as_secs_f64()
    ));
    Ok(Rendered {
        text,
        record,
        values: output,
        merged: assembled.merged,
        user_egress_rules: settings.user_egress_rules,
        warnings,
        summary: summary_parts.join("; "),
    })
}

fn list_requests(args: &RenderArgs, settings: &Settings) -> Vec<ListRequest> {
    let mut requests = Vec::new();
    if !settings.github_keys.is_empty() {
        requests.push(ListRequest {
            kind: ListKind::GitHubMeta,
            url: args.github_meta_url.clone(),
            keys: settings.github_keys.clone(),
        });
    }
    if !settings.fastly_keys.is_empty() {
        requests.push(ListRequest {
            kind: ListKind::Fastly,
            url: args.fastly_url.clone(),
            keys: settings.fastly_keys.clone(),
        });
    }
    requests
}

fn duration_from_secs(secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--timeout: {secs} is not a positive number of seconds"))
}

fn count(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "address") => format!("{n} addresses"),
        _ => format!("{n} {noun}s"),
    }
}
