//! Rendering: read binder.yaml, look up every address source at once,
//! transform, and produce the text of _binder.yaml. Shared by `render` and
//! `deploy`; writing the file is the caller's business.

use crate::error::ShownPath;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_yaml::Value;

use crate::egress::allow_list::{self, Record, Source};
use crate::egress::cidr;
use crate::egress::dns::{self, DnsOptions};
use crate::egress::published::{self, ListKind, ListRequest};
use crate::error::Problems;
use crate::values::settings::{self, AllowListMode, Settings, Whitelist};

use crate::ops::input;
use crate::values::{read, transform, write};

use crate::cluster::runner::interrupted;
use crate::error::Interrupted;
use crate::fsutil;
use crate::ops::render;

/// Where `render` and `deploy` read the values, where they write, and how the
/// egress addresses are looked up (`--nameserver`, the lists, the limits).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub nameservers: Vec<String>,
    pub github_meta_url: String,
    pub fastly_url: String,
    pub timeout: Duration,
    pub retries: u32,
    pub allow_unresolved: bool,
    pub allow_default_route: bool,
    pub allow_special_addresses: bool,
    pub dns_note: Option<String>,
}

/// A finished render, not yet written anywhere.
#[derive(Debug)]
pub struct Rendered {
    /// The complete text of the output file.
    pub text: String,
    /// Which source gave which ranges (also at the end of `text`).
    pub record: Record,
    /// The rendered values (what `text` holds).
    pub values: Value,
    /// The merged ranges of the allow-list (in the values' generated rule
    /// in `values` mode; for the NetworkPolicy in `policy` mode).
    pub merged: Vec<cidr::IpNet>,
    /// Each source's contribution, as looked up.
    pub sources: Vec<Source>,
    /// Where the allow-list goes.
    pub mode: AllowListMode,
    /// The build pods get the allow-list too (`egress_targets`, policy mode).
    pub build_egress: bool,
    /// The shortest TTL of the DNS answers taken.
    pub shortest_ttl: Option<u32>,
    /// How many of the egress rules are the operator's own.
    pub user_egress_rules: usize,
    /// Warnings, one line each (already printed to stderr).
    pub warnings: Vec<String>,
    /// One line for stderr: addresses per source, ipBlocks, time taken.
    pub summary: String,
}

/// Print a warning the way every binderctl warning looks.
pub fn warn(message: &str) {
    crate::output::warn(message);
}

/// Read a values file as Helm reads it: a clear error naming the file
/// otherwise. Values whose Helm reading is likely a surprise are warned
/// about.
pub fn read_values(path: &Path) -> Result<Value> {
    let name = path.shown().to_string();
    let text = input::read_text(path)?;
    let reading = read::parse_values(&text, &name)?;
    for note in &reading.notes {
        warn(&note.describe(&name));
    }
    if reading.notes_left_out > 0 {
        warn(&format!(
            "{name}: {} more values like these are not listed",
            reading.notes_left_out
        ));
    }
    Ok(reading.value)
}

/// Render `args.input`. Every problem (bad keys, unresolvable hosts, lists
/// that cannot be fetched) is collected and returned together as
/// [`Problems`]; nothing is written here.
pub async fn render(args: &RenderOptions) -> Result<Rendered> {
    let started = Instant::now();
    let input = read_input(args)?;
    render_input(args, input, started).await
}

/// binder.yaml, read and checked: what a render starts from.
#[derive(Debug)]
pub struct Input {
    values: Value,
    settings: Settings,
}

impl Input {
    /// Where the allow-list goes.
    pub fn mode(&self) -> AllowListMode {
        self.settings.mode
    }

    /// The hosts of `domain_whitelist`.
    pub fn hosts(&self) -> &[String] {
        &self.settings.hosts
    }

    /// `egressAllowRules.nonPrivateIPs` is not false.
    pub fn allows_public(&self) -> bool {
        self.settings.allows_public
    }
}

/// The first, local part of [`render`]: for a caller that needs the mode
/// before the lookups start, without reading binder.yaml twice.
pub fn read_input(args: &RenderOptions) -> Result<Input> {
    read_input_file(&args.input)
}

/// binder.yaml and binderctl's keys in it, read and checked.
pub fn read_input_file(path: &Path) -> Result<Input> {
    let values = read_values(path)?;
    let settings = read_settings(&values, &path.shown().to_string())?;
    Ok(Input { values, settings })
}

/// The rest of [`render`], from binder.yaml as [`read_input`] read it;
/// `started` is when the render began (for the summary).
pub async fn render_input(
    args: &RenderOptions,
    input_read: Input,
    started: Instant,
) -> Result<Rendered> {
    let input = args.input.shown().to_string();
    let Input { values, settings } = input_read;
    let mut warnings: Vec<String> = settings
        .warnings
        .iter()
        .map(|w| format!("{input}: {w}"))
        .collect();

    let (lookups, lists) = look_up(args, &settings).await?;
    let mut gathered = Gathered::new(&settings);
    gathered.dns_note = Some(dns_note(args));
    gathered.add_hosts(&lookups, args.allow_unresolved, &input, &mut warnings);
    gathered.add_lists(&lists);

    let allow = allow_list::Allow {
        default_route: args.allow_default_route,
        special_addresses: args.allow_special_addresses,
    };
    let assembled = match allow_list::assemble(&gathered.sources, allow) {
        Ok(a) if gathered.problems.is_empty() => a,
        Ok(_) => return Err(Problems(gathered.problems).into()),
        Err(more) => {
            gathered.problems.extend(more);
            return Err(Problems(gathered.problems).into());
        }
    };
    warnings.extend(assembled.warnings);
    if assembled.merged.is_empty() {
        warnings.push(format!(
            "{input}: no egress ranges at all: no rule is added, user pods reach only what \
             the chart's own rules allow"
        ));
    }

    // In policy mode the values carry no ranges, so they stop changing with DNS.
    let in_values = match settings.mode {
        AllowListMode::Values => assembled.merged.as_slice(),
        AllowListMode::Policy => &[],
    };
    let output = transform::apply(&values, &settings.whitelist, in_values);
    let record = allow_list::record(&gathered.sources);
    let text = output_text(&input, &output, &record, settings.mode)?;
    if let Whitelist::Enabled(owners) = &settings.whitelist {
        gathered.summary.insert(
            0,
            format!(
                "whitelist: {} on GitHub, every other provider closed ({})",
                count(owners.len(), "owner"),
                transform::OTHER_PROVIDERS.join(", ")
            ),
        );
    }
    for w in &warnings {
        warn(w);
    }
    // Never dropped by `-q`: a cron job must hear that the allow-list
    // restricts nothing.
    for alert in &settings.alerts {
        let alert = format!("{input}: {alert}");
        crate::output::alert(&alert);
        warnings.push(alert);
    }
    gathered.summary.push(format!(
        "{} after merging, in {:.2}s",
        count(assembled.merged.len(), "ipBlock"),
        started.elapsed().as_secs_f64()
    ));
    Ok(Rendered {
        text,
        record,
        values: output,
        merged: assembled.merged,
        sources: gathered.sources,
        mode: settings.mode,
        build_egress: settings.build_egress,
        shortest_ttl: lookups
            .iter()
            .filter(|l| l.result.is_ok())
            .filter_map(|l| l.ttl)
            .min(),
        user_egress_rules: settings.user_egress_rules,
        warnings,
        summary: gathered.summary.join("; "),
    })
}

/// Which servers the look-ups ask, for the summary.
fn dns_note(args: &RenderOptions) -> String {
    if let Some(note) = &args.dns_note {
        return note.clone();
    }
    let named: Vec<&str> = args
        .nameservers
        .iter()
        .map(String::as_str)
        .filter(|s| *s != crate::egress::dns::NAMESERVER_HOST)
        .collect();
    if named.is_empty() {
        "the host's resolver, /etc/resolv.conf".to_string()
    } else {
        named.join(", ")
    }
}

/// binderctl's keys of `values`, every problem named with the input file.
fn read_settings(values: &Value, input: &str) -> Result<Settings> {
    settings::read(values).map_err(|problems| {
        Problems(
            problems
                .into_iter()
                .map(|p| format!("{input}: {p}"))
                .collect(),
        )
        .into()
    })
}

/// Resolve every host and fetch every list, all at once.
async fn look_up(
    args: &RenderOptions,
    settings: &Settings,
) -> Result<(Vec<dns::HostLookup>, Vec<published::ListResult>)> {
    let timeout = args.timeout;
    // Empty entries are refused by the command line already; `host` is the
    // system's configuration (no servers named); `cluster` is resolved to
    // addresses by the command before the render.
    if args
        .nameservers
        .iter()
        .any(|s| s == crate::egress::dns::NAMESERVER_CLUSTER)
    {
        anyhow::bail!(
            "--nameserver cluster: the cluster's DNS servers were not read (a bug in binderctl)"
        );
    }
    let nameservers = args
        .nameservers
        .iter()
        .filter(|s| *s != crate::egress::dns::NAMESERVER_HOST)
        .map(|s| dns::parse_nameserver(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--nameserver: {e}"))?;
    let dns_options = DnsOptions {
        nameservers,
        timeout,
        retries: args.retries,
    };
    let requests = list_requests(args, settings);
    let (lookups, lists, ()) = tokio::join!(
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
            // Loading the system's TLS roots takes milliseconds: on a thread
            // of its own, while the lookups are in flight, and only when a
            // list is fetched over HTTPS.
            let https = requests
                .iter()
                .any(|r| r.url.to_ascii_lowercase().starts_with("https://"));
            let client = if https {
                tokio::task::spawn_blocking(move || published::http_client(timeout, true))
                    .await
                    .map_err(|e| format!("could not set up the HTTP client: {e}"))??
            } else {
                // Without roots the client is cheap: no thread (and no
                // malloc arena of its own) for it.
                published::http_client(timeout, false)?
            };
            Ok::<_, String>(published::fetch_all(&client, requests, args.retries).await)
        },
        // Polled last, once the queries and requests are out: the writer's
        // patterns compile while the answers are on their way.
        async { write::warm_up() }
    );
    let lookups = lookups.map_err(|e| anyhow::anyhow!("DNS resolver: {e}"))?;
    let lists = lists.map_err(|e| anyhow::anyhow!("HTTP client: {e}"))?;
    Ok((lookups, lists))
}

/// The sources of the allow-list as they arrive, the problems met on the
/// way, and the summary's parts.
struct Gathered {
    sources: Vec<Source>,
    problems: Vec<String>,
    summary: Vec<String>,
    /// Which servers answered, for the summary.
    dns_note: Option<String>,
}

impl Gathered {
    fn new(settings: &Settings) -> Self {
        let mut summary = Vec::new();
        if !settings.cidrs.is_empty() {
            summary.push(format!(
                "{}: {}",
                settings::KEY_CIDR_WHITELIST,
                count(settings.cidrs.len(), "range")
            ));
        }
        let sources = vec![Source {
            label: settings::KEY_CIDR_WHITELIST.to_string(),
            nets: settings.cidrs.clone(),
            explicit: true,
        }];
        Gathered {
            sources,
            problems: Vec::new(),
            summary,
            dns_note: None,
        }
    }

    fn add_hosts(
        &mut self,
        lookups: &[dns::HostLookup],
        allow_unresolved: bool,
        input: &str,
        warnings: &mut Vec<String>,
    ) {
        let mut addresses = 0;
        let mut resolved = 0;
        for lookup in lookups {
            match &lookup.result {
                Ok(ips) => {
                    resolved += 1;
                    addresses += ips.len();
                    self.sources.push(Source {
                        label: format!("host {}", lookup.host),
                        nets: ips.iter().map(|ip| cidr::host(*ip)).collect(),
                        explicit: false,
                    });
                }
                Err(failure) if allow_unresolved => warnings.push(format!(
                    "host {}: {failure}; skipped (--allow-unresolved)",
                    lookup.host
                )),
                Err(failure) => self.problems.push(format!(
                    "host {}: {failure} (listed in {input} under {}.{}; pass --allow-unresolved to render without it)",
                    lookup.host,
                    settings::NETWORK_POLICY.join("."),
                    settings::KEY_DOMAIN_WHITELIST
                )),
            }
        }
        if !lookups.is_empty() {
            self.summary.push(format!(
                "DNS: {} of {} → {}{}",
                resolved,
                count(lookups.len(), "host"),
                count(addresses, "address"),
                self.dns_note
                    .as_ref()
                    .map(|n| format!(" (through {n})"))
                    .unwrap_or_default()
            ));
        }
    }

    fn add_lists(&mut self, lists: &[published::ListResult]) {
        for list in lists {
            let name = list.request.kind.name();
            match &list.result {
                Ok(entries) => {
                    for key in &list.request.keys {
                        let nets = entries.iter().filter(|(k, _)| k == key).map(|(_, n)| *n);
                        self.sources.push(Source {
                            label: format!("{name} {key}"),
                            nets: nets.collect(),
                            explicit: false,
                        });
                    }
                    self.summary.push(format!(
                        "{name} ({}): {}",
                        list.request.keys.join(", "),
                        count(entries.len(), "range")
                    ));
                }
                Err(failure) => self.problems.push(format!(
                    "{name} list {}: {failure}",
                    list.request.shown_url()
                )),
            }
        }
    }
}

/// The text of the output file: a header, the values, the source record
/// (in policy mode a pointer to the policy instead, which does not change
/// with DNS).
fn output_text(
    input: &str,
    output: &Value,
    record: &Record,
    mode: AllowListMode,
) -> Result<String> {
    let yaml = write::to_string(output).context("cannot write the rendered values as YAML")?;
    let tail = match mode {
        AllowListMode::Values => allow_list::format_record(record),
        AllowListMode::Policy => POLICY_MODE_NOTE.to_string(),
    };
    // The name is escaped: a line break in it would end the comment.
    Ok(format!(
        "# Rendered by binderctl from {}: edit that file and render again;\n\
         # changes made here are overwritten.\n{yaml}{tail}",
        allow_list::escape_for_comment(input),
    ))
}

/// The last lines of the output in policy mode.
const POLICY_MODE_NOTE: &str = "# Egress allow-list: in the NetworkPolicy binderctl-egress \
     (allow_list_mode: policy), kept up to date by `binderctl egress apply`.\n";

fn list_requests(args: &RenderOptions, settings: &Settings) -> Vec<ListRequest> {
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

fn count(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "address") => format!("{n} addresses"),
        _ => format!("{n} {noun}s"),
    }
}
/// The output must never replace the operator's own files (the input, and
/// `others`: deploy's secret and values files), nor anything that is not a
/// regular file.
pub fn refuse_overwriting_input(args: &RenderOptions, others: &[(&str, &Path)]) -> Result<()> {
    let mut inputs = vec![("the input file", args.input.as_path())];
    inputs.extend_from_slice(others);
    fsutil::refuse_output(&args.output, &inputs)
}

/// Render, unless interrupted first: Ctrl-C or SIGTERM during the lookups
/// ends the run at once, with nothing written.
pub async fn render_interruptibly(args: &RenderOptions) -> Result<Rendered> {
    tokio::select! {
        rendered = render::render(args) => rendered,
        () = interrupted() => Err(Interrupted.into()),
    }
}
