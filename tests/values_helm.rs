//! The contract with real Helm: `helm template` of a chart that prints
//! `toJson .Values` gives the same JSON for binder.yaml (binderctl's keys
//! removed) as for the _binder.yaml `binderctl render` writes from it,
//! outside the two documented changes (the whitelist pattern and the egress
//! rule). Thousands of generated values (YAML 1.1 and 1.2 look-alikes, odd
//! keys, long and multi-line strings, escapes, anchors, merges, tags) and
//! the hand-picked cases of issue 9 run through Helm 4 and Helm 3, many
//! cases per values file (each under its own top-level key) so a few Helm
//! runs cover them all.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use binderctl::values::read;

/// binderctl's own keys and the two places it changes.
const BINDERCTL_PART: &str = r#"config:
  GitHubRepoProvider:
    whitelist_enabled: true
    whitelist: [lab-example]
    banned_specs:
      - ^(?!()\/).*$
jupyterhub:
  singleuser:
    networkPolicy:
      cidr_whitelist: [192.0.2.0/24]
      published_ip_lists: {github: [], fastly: []}
"#;

/// A chart whose only template prints the values as JSON (in base64).
struct Probe {
    dir: tempfile::TempDir,
}

impl Probe {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let chart = dir.path().join("chart");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(
            chart.join("templates/values.yaml"),
            // Base64: Helm parses what templates print as YAML, which
            // refuses some characters JSON leaves unescaped (U+0085).
            "values: {{ toJson .Values | b64enc }}\n",
        )
        .unwrap();
        Probe { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `helm template` of the chart with `values`: the JSON, or Helm's error.
    fn helm_json(&self, helm: &Path, values: &str) -> Result<Json, String> {
        let file = self.path("values-for-helm.yaml");
        std::fs::write(&file, values).unwrap();
        let home = self.path("helm-home");
        let out = Command::new(helm)
            .args(["template", "probe"])
            .arg(self.path("chart"))
            .arg("-f")
            .arg(&file)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("run helm");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("values: "))
            .ok_or_else(|| format!("nothing in helm's output: {stdout}"))?;
        let json = read::scalar::decode_base64(line).expect("helm printed base64");
        Ok(serde_json::from_slice(&json).expect("helm printed JSON"))
    }

    /// `binderctl render` of `binder_yaml`: the text of _binder.yaml, or
    /// what binderctl said when it refused.
    fn try_render(&self, binder_yaml: &str) -> Result<String, String> {
        let input = self.path("binder.yaml");
        let output = self.path("_binder.yaml");
        std::fs::write(&input, binder_yaml).unwrap();
        let _ = std::fs::remove_file(&output);
        let out = Command::new(env!("CARGO_BIN_EXE_binderctl"))
            .current_dir(self.dir.path())
            .args(["render", "-i", "binder.yaml", "-o", "_binder.yaml"])
            .output()
            .expect("run binderctl");
        if out.status.success() {
            Ok(std::fs::read_to_string(&output).unwrap())
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));
            assert!(!output.exists(), "nothing written when refused");
            Err(support::stderr(&out))
        }
    }

    fn render(&self, binder_yaml: &str) -> String {
        self.try_render(binder_yaml)
            .unwrap_or_else(|e| panic!("binderctl render failed: {e}"))
    }
}

/// The JSON Helm gets, without `config` and `jupyterhub` (binderctl's part).
fn without_binderctl_part(mut json: Json) -> Json {
    if let Some(map) = json.as_object_mut() {
        map.remove("config");
        map.remove("jupyterhub");
    }
    json
}

/// binder.yaml: binderctl's part, then each case under `case_N`.
fn batch_text(cases: &[String]) -> String {
    let mut binder_yaml = BINDERCTL_PART.to_string();
    for (i, case) in cases.iter().enumerate() {
        binder_yaml.push_str(&format!("case_{i}:{case}"));
    }
    binder_yaml
}

/// Check the contract for `cases` (YAML text, each valid under a key):
/// both Helms read binder.yaml and _binder.yaml alike, case by case.
fn assert_same_for_helm(probe: &Probe, cases: &[String]) {
    assert_same_for_helm_text(probe, &batch_text(cases), cases);
}

/// [`assert_same_for_helm`] for a binder.yaml made by [`batch`] and maybe
/// changed (a byte order mark in front).
fn assert_same_for_helm_text(probe: &Probe, binder_yaml: &str, cases: &[String]) {
    let helms: Vec<PathBuf> = match support::real_tools::require_all(&["helm", "helm3"]) {
        Some(helms) => helms,
        None => return,
    };
    let rendered = probe.render(binder_yaml);
    let mut first_reading = None;
    for helm in &helms {
        let name = helm.file_name().unwrap().to_string_lossy().into_owned();
        let before = probe.helm_json(helm, binder_yaml).unwrap_or_else(|e| {
            if let Ok(dir) = std::env::var("KEEP_FAILING") {
                std::fs::write(Path::new(&dir).join("failing.yaml"), binder_yaml).unwrap();
            }
            panic!("{name} refuses binder.yaml: {e}")
        });
        let after = probe
            .helm_json(helm, &rendered)
            .unwrap_or_else(|e| panic!("{name} refuses _binder.yaml: {e}\n{rendered}"));
        check_documented_changes(&after, &name);
        let (before, after) = (
            without_binderctl_part(before),
            without_binderctl_part(after),
        );
        if before != after {
            let differing: Vec<String> = (0..cases.len())
                .filter(|i| before.get(format!("case_{i}")) != after.get(format!("case_{i}")))
                .take(5)
                .map(|i| {
                    let key = format!("case_{i}");
                    format!(
                        "{key}:{}\n  binder.yaml: {}\n  _binder.yaml: {}",
                        cases[i], before[&key], after[&key]
                    )
                })
                .collect();
            panic!("{name} reads them differently:\n{}", differing.join("\n"));
        }
        // Helm 3 and Helm 4 agree on everything binderctl accepts.
        match &first_reading {
            None => first_reading = Some(before),
            Some(first) => assert_eq!(first, &before, "Helm 4 and Helm 3 disagree"),
        }
    }
}

/// The whitelist became the banned-spec pattern, the egress rule is there,
/// binderctl's keys are gone.
fn check_documented_changes(json: &Json, helm: &str) {
    let provider = &json["config"]["GitHubRepoProvider"];
    assert_eq!(
        provider["banned_specs"],
        serde_json::json!([r"^(?!(lab-example)\/).*$"]),
        "{helm}: {provider}"
    );
    assert!(provider.get("whitelist").is_none(), "{helm}: {provider}");
    let policy = &json["jupyterhub"]["singleuser"]["networkPolicy"];
    assert_eq!(
        policy["egress"],
        serde_json::json!([{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]),
        "{helm}: {policy}"
    );
    assert!(policy.get("cidr_whitelist").is_none(), "{helm}: {policy}");
}

/// splitmix64: small, deterministic, good enough to pick from pools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Plain scalars that some YAML reader takes for something other than
/// text, and some that only look like it.
const PLAIN: &[&str] = &[
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "yEs",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "oN",
    "off",
    "Off",
    "OFF",
    "true",
    "True",
    "TRUE",
    "tRue",
    "false",
    "False",
    "FALSE",
    "null",
    "Null",
    "NULL",
    "nULL",
    "~",
    "010",
    "0o10",
    "0O10",
    "0x1F",
    "0X1f",
    "0b101",
    "0B11",
    "0b-1",
    "-0b11",
    "1_000",
    "0_10",
    "08",
    "09.5",
    "+12",
    "-12",
    "-0",
    "00",
    "0",
    "1:30",
    "190:20:30.15",
    "1.5",
    ".5",
    "+.5",
    "-.5",
    "1.e5",
    "1e3",
    "1E3",
    "1.0e+3",
    "1e400",
    "-1e400",
    "1e-400",
    "._5",
    "1.2.3",
    "1.10",
    "2.0",
    "-0.0",
    "2024-01-01",
    "2024-1-1",
    "2024-01-01T10:00:00Z",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2001-12-14 21:59:43.10 -5",
    "2024-foo",
    "12345678901234567890",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999",
    "0xFFFFFFFFFFFFFFFF",
    "0x1_F",
    "1__0",
    "0x",
    "0xG",
    "1e",
    "12e",
    "0.",
    "=",
    "<<",
    "-Xmx512m",
    "::1",
    "2001:db8::1",
    "inf",
    "nan",
    "Infinity",
    "-inf",
    ".Inf",
    "+.INF",
    "yesterday",
    "1.0.0-rc1",
    "10.0.0.1",
    "192.0.2.1/24",
    "lab/binder-",
    "a b c",
    "café",
    "日本語",
    "😀",
    "a'b",
    "a\"b",
    "x:y",
    "a#b",
    "http://h.example:80/p?q=1",
    "0x_1F",
    "1_0.5",
    "+0x10",
    "-010",
    "0o",
    "0b",
    "1e+3",
    "3.",
    "+1_0",
    // Underscores in a float that starts with `.` (Go's ParseFloat).
    ".1_0",
    ".1_0e1_0",
    ".5_5e-1_0",
    ".1__0",
    ".1_",
    // Float32 ties (474154.625 is 474154.62 as a key), value and exponent form.
    "474154.625",
    "4.74154625e5",
    "474154.875",
];

/// Strings written quoted (any content, escapes included).
const QUOTED: &[&str] = &[
    "",
    " ",
    "  lead",
    "trail ",
    "a # b",
    "a: b",
    "- dash",
    "? q",
    ":30",
    "?x",
    "--x",
    "-x",
    "0x1p-2",
    "2024-01-01-release",
    "_1",
    "---x",
    "...x",
    "-\tx",
    "|",
    ">",
    "!bang",
    "&amp",
    "*star",
    "[",
    "{",
    "}",
    "]",
    ",",
    "%pct",
    "@at",
    "`tick",
    "...",
    "---",
    "'single'",
    "\"double\"",
    "\\",
    "line1\nline2",
    "line1\nline2\n",
    "\n",
    "\n\n",
    "tab\there",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{0}",
    "\u{7}",
    "\u{1b}",
    "\u{7f}",
    "\u{9f}",
    "\u{feff}",
    "\u{ad}",
    "é",
    "\u{10FFFF}",
    "\r\n",
    "x\r",
    "a\u{2028}b",
    "end\n\n\n",
    " \n ",
    "#",
    "-",
    ":",
    "?",
];

/// Lines of block scalars.
const BLOCK_LINES: &[&str] = &[
    "plain line",
    "key: value",
    "# not a comment",
    "  indented",
    "yes",
    "- item",
    "",
    "\ttab after the indent",
    "trailing space ",
    "010",
    "'quoted'",
];

/// Keys: ordinary, look-alikes, odd.
const KEYS: &[&str] = &[
    "name",
    "enabled",
    "use_registry",
    "x_y",
    "CamelCase",
    "with-dash",
    "\":30\"",
    "\"?x\"",
    "\"-x\"",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "010",
    "1.5",
    "1e3",
    "true",
    "0x10",
    ".inf",
    "-1",
    "+1",
    "1_0",
    "2024-01-01",
    "1:30",
    "08",
    "12345678901234567890",
    "1.0",
    "0.1",
    "123456789.0",
    "\"with space\"",
    "\"a: b\"",
    "\"#x\"",
    "\"\"",
    "\"ключ\"",
    "\"😀\"",
    "\"tab\\there\"",
    "\"line\\nbreak\"",
    "\"\\u2028\"",
    "'yes'",
    "'010'",
    "\"<<\"",
    "'<<'",
    "\"true\"",
    "'~'",
    "a.b",
    "a/b",
    "$dollar",
    // Float keys Go formats as 32-bit floats, ties to even.
    "474154.625",
    "4.74154625e5",
    "-474155.375",
    "474155.125",
    ".1_0",
    ".5_5e-1_0",
];

/// Tagged scalars and what is well-formed for them.
const TAGGED: &[&str] = &[
    "!!str 010",
    "!!str yes",
    "!!str",
    "!!int \"12\"",
    "!!int 0x10",
    "!!float 1",
    "!!float \"010\"",
    "!!bool \"on\"",
    "!!bool yes",
    "!!binary aGVsbG8=",
    "!!null \"\"",
    "!foo bar",
    "!foo 12",
    "! 12",
    "!!timestamp 2024-01-01",
    "!<tag:yaml.org,2002:int> \"7\"",
];

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ' '..='~' => out.push(c),
            c if c.is_alphanumeric() && (c as u32) < 0xFFFE => out.push(c),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Generates one case: YAML text placed after `case_N:`.
struct Generator<'a> {
    rng: &'a mut Rng,
    /// Anchors defined in this case so far: (name, is a mapping).
    anchors: Vec<(String, bool)>,
}

impl Generator<'_> {
    /// A node after `key:` or `-`: ` scalar\n`, or `\n` and a block
    /// collection at `indent`.
    fn node(&mut self, indent: usize, depth: usize) -> String {
        let roll = self.rng.below(100);
        if depth < 4 && roll < 30 {
            return self.mapping(indent, depth);
        }
        if depth < 4 && roll < 42 {
            return self.sequence(indent, depth);
        }
        if roll < 48 {
            return format!(" {}\n", self.flow(depth));
        }
        if roll < 56 {
            return self.block_scalar(indent);
        }
        if roll < 62 && !self.anchors.is_empty() {
            let (name, _) = self.anchors[self.rng.below(self.anchors.len())].clone();
            return format!(" *{name}\n");
        }
        format!(" {}\n", self.scalar())
    }

    /// Maybe an anchor name; [`Self::defined`] makes it usable once the
    /// node is complete (an alias inside its own anchor is an error).
    fn anchor(&mut self) -> Option<String> {
        // Few names, so redefinitions happen: the latest must count.
        if self.rng.chance(1) {
            // Names go-yaml refuses: binderctl must refuse them too.
            return Some(self.rng.pick(&["a.b", "x?", "\"00.5\"", "n:"]).to_string());
        }
        self.rng
            .chance(15)
            .then(|| format!("a{}", self.rng.below(3)))
    }

    fn defined(&mut self, anchor: Option<String>, is_mapping: bool) {
        if let Some(name) = anchor {
            self.anchors.push((name, is_mapping));
        }
    }

    fn scalar(&mut self) -> String {
        let text = match self.rng.below(100) {
            0..=54 => self.rng.pick(PLAIN).to_string(),
            55..=69 => double_quoted(self.rng.pick(QUOTED)),
            70..=77 => format!("'{}'", self.rng.pick(PLAIN).replace('\'', "''")),
            78..=87 => double_quoted(self.rng.pick(PLAIN)),
            88..=94 => self.rng.pick(TAGGED).to_string(),
            _ => double_quoted(&self.long_string()),
        };
        let anchor = self.anchor();
        let text = match &anchor {
            Some(name) => format!("&{name} {text}"),
            None => text,
        };
        self.defined(anchor, false);
        text
    }

    fn long_string(&mut self) -> String {
        let mut s = String::new();
        while s.len() < 2000 + self.rng.below(3000) {
            s.push_str(self.rng.pick(PLAIN));
            s.push(if self.rng.chance(10) { '\n' } else { ' ' });
        }
        s
    }

    fn key(&mut self) -> String {
        if self.rng.chance(2) {
            return format!("? {}\n", double_quoted(&"k".repeat(1100)));
        }
        self.rng.pick(KEYS).to_string()
    }

    fn mapping(&mut self, indent: usize, depth: usize) -> String {
        let anchor = self.anchor();
        let mut out = match &anchor {
            Some(name) => format!(" &{name}\n"),
            None => "\n".to_string(),
        };
        let pad = " ".repeat(indent);
        let mut used = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            if self.rng.chance(2) {
                // Lines holding tabs: go-yaml allows some (beyond the
                // indentation, after a plain scalar) and refuses others.
                let line = match self.rng.below(3) {
                    0 => "\t".to_string(),
                    1 => format!("{pad}\t"),
                    _ => format!("{pad} \t"),
                };
                out.push_str(&line);
                out.push('\n');
            }
            if self.rng.chance(12) {
                if let Some(merge) = self.merge_value(depth) {
                    out.push_str(&format!("{pad}<<: {merge}\n"));
                    continue;
                }
            }
            let key = self.key();
            if used.contains(&key) {
                continue;
            }
            used.push(key.clone());
            let value = self.node(indent + 2, depth + 1);
            if let Some(explicit) = key.strip_suffix('\n') {
                out.push_str(&format!("{pad}{explicit}\n{pad}:{value}"));
            } else {
                out.push_str(&format!("{pad}{key}:{value}"));
            }
        }
        self.defined(anchor, true);
        out
    }

    /// What follows `<<:`: an alias of a mapping, a list of them, or a
    /// flow mapping.
    fn merge_value(&mut self, depth: usize) -> Option<String> {
        let maps: Vec<String> = self
            .anchors
            .iter()
            .filter(|(_, is_map)| *is_map)
            .map(|(name, _)| format!("*{name}"))
            .collect();
        match self.rng.below(3) {
            0 if !maps.is_empty() => Some(maps[self.rng.below(maps.len())].clone()),
            1 if !maps.is_empty() => {
                let mut items: Vec<String> = (0..1 + self.rng.below(3))
                    .map(|_| maps[self.rng.below(maps.len())].clone())
                    .collect();
                if self.rng.chance(50) {
                    items.push(self.flow_mapping(depth));
                }
                Some(format!("[{}]", items.join(", ")))
            }
            _ => Some(self.flow_mapping(depth)),
        }
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> String {
        let anchor = self.anchor();
        let mut out = match &anchor {
            Some(name) => format!(" &{name}\n"),
            None => "\n".to_string(),
        };
        let pad = " ".repeat(indent);
        for _ in 0..1 + self.rng.below(4) {
            let item = self.node(indent + 2, depth + 1);
            out.push_str(&format!("{pad}-{item}"));
        }
        self.defined(anchor, false);
        out
    }

    /// Flow collections hold scalars safe there (no `,[]{}` or `: `).
    fn flow(&mut self, depth: usize) -> String {
        if self.rng.chance(50) {
            self.flow_mapping(depth)
        } else {
            let items: Vec<String> = (0..self.rng.below(4)).map(|_| self.flow_scalar()).collect();
            format!("[{}]", items.join(", "))
        }
    }

    fn flow_mapping(&mut self, _depth: usize) -> String {
        let mut used = Vec::new();
        let mut items = Vec::new();
        for _ in 0..self.rng.below(4) {
            let key = self.rng.pick(KEYS).to_string();
            if used.contains(&key) {
                continue;
            }
            used.push(key.clone());
            items.push(format!("{key}: {}", self.flow_scalar()));
        }
        format!("{{{}}}", items.join(", "))
    }

    fn flow_scalar(&mut self) -> String {
        if self.rng.chance(1) {
            // What go-yaml reads otherwise in a flow collection (`?` is a
            // key indicator there, `>` starts no token, `a:` is text).
            return self.rng.pick(&["?x", "x?y", ">x", "|x", "a:"]).to_string();
        }
        let plain = self.rng.pick(PLAIN);
        let flow_safe = !plain.contains([',', '[', ']', '{', '}', '#', ':', '"', '\''])
            && !plain.starts_with(['-', '?', '=', '<']);
        if flow_safe && self.rng.chance(70) {
            plain.to_string()
        } else {
            double_quoted(self.rng.pick(QUOTED))
        }
    }

    /// A literal or folded block with an explicit indentation indicator,
    /// content at `indent`.
    fn block_scalar(&mut self, indent: usize) -> String {
        let style = if self.rng.chance(70) { '|' } else { '>' };
        let chomp = self.rng.pick(&["", "-", "+"]);
        // The indicator counts from the parent's indentation.
        let mut out = format!(" {style}2{chomp}\n");
        let pad = " ".repeat(indent);
        for _ in 0..1 + self.rng.below(4) {
            if self.rng.chance(2) {
                // A tab before the content's column, or at it.
                out.push_str(if self.rng.chance(50) { "\t\n" } else { "" });
                out.push_str(&format!("{pad}\t\n"));
            }
            let line = self.rng.pick(BLOCK_LINES);
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("{pad}{line}\n"));
            }
        }
        out
    }
}

/// `count` generated cases that binderctl accepts on their own, and how
/// many it refused (each refusal is a documented one).
fn generated_cases(seed: u64, count: usize) -> (Vec<String>, usize) {
    let mut rng = Rng(seed);
    let mut cases = Vec::new();
    let mut refused = 0;
    while cases.len() < count {
        let case = Generator {
            rng: &mut rng,
            anchors: Vec::new(),
        }
        .node(2, 0);
        match read::parse_values(&format!("case:{case}"), "case") {
            Ok(_) => cases.push(case),
            Err(e) => {
                if std::env::var_os("SHOW_REFUSED").is_some() {
                    eprintln!("REFUSED {e:#}");
                }
                refused += 1
            }
        }
    }
    (cases, refused)
}

#[test]
fn generated_values_reach_helm_as_helm_reads_binder_yaml() {
    let probe = Probe::new();
    let mut refused = 0;
    // VALUES_HELM_SEED explores other cases (the default is fixed).
    let seed: u64 = std::env::var("VALUES_HELM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0000);
    for batch in 0..4u64 {
        let (cases, batch_refused) = generated_cases(seed + batch, 1000);
        refused += batch_refused;
        if batch == 3 {
            // Windows line endings (CR LF) throughout.
            let crlf = batch_text(&cases).replace('\n', "\r\n");
            assert_same_for_helm_text(&probe, &crlf, &cases);
        } else {
            assert_same_for_helm(&probe, &cases);
        }
    }
    // Refusals (keys that collide for Helm, merges of non-mappings, ...)
    // stay a small share: most generated cases are compared.
    eprintln!("{refused} generated cases refused (not compared)");
    assert!(refused < 800, "{refused} of 4000 generated cases refused");
}

/// The examples of issue 9 and other hand-picked cases, each a case.
const HAND_PICKED: &[&str] = &[
    // An unquoted yes is true for Helm.
    "\n  use_registry: yes\n  cleanup: off\n  name: n\n",
    // A merge whose source has its own merge: no literal "<<" key.
    "\n  base: &base {x: 1}\n  mid: &mid {<<: *base, w: 2}\n  c: {<<: *mid, z: 3}\n",
    // A quoted "<<" is a plain key in every YAML version.
    "\n  \"<<\": {x: 1}\n  c: {'<<': 5, z: 3}\n",
    // A redefined anchor: the latest definition counts.
    "\n  a: &x 1\n  b: &x 2\n  c: &y 3\n  d: *x\n",
    // Merge precedence: document order; lists from the last item.
    "\n  a: {k: 1, <<: {k: 2, j: 2}}\n  b: {<<: {k: 2, j: 2}, k: 1}\n  c: {<<: [{k: 1}, {k: 2, j: 2}]}\n  d: {<<: {}, <<: {k: 3}}\n  e: {!!merge <<: {k: 4}}\n",
    // Duplicate keys: the last counts; y and yes are the same key.
    "\n  a: 1\n  a: 2\n  y: 3\n  yes: 4\n",
    // Integers in every base, with underscores; floats; big integers.
    "\n  [010, 0o10, 0x1F, -0x1F, 0b101, 0b-1, 1_000, 0_10, 08, +12, -0, 1.5, .5, +.5, 1.e5, 1e3, 1e400, 1.10, -0.0, 12345678901234567890, 9007199254740993, 18446744073709551615, 18446744073709551616, 99999999999999999999999]\n",
    // Timestamps reach Helm as their text; sexagesimal is text.
    "\n  - 2024-01-01\n  - 2024-1-1\n  - 2001-12-14 21:59:43.10 -5\n  - 2001-12-14t21:59:43.10-05:00\n  - 1:30\n  - 190:20:30.15\n",
    // Strings no reader takes for anything else stay readable.
    "\n  - -Xmx512m\n  - ::1\n  - 2024-foo\n  - yEs\n  - inf\n  - 1.2.3\n",
    // The same, quoted in binder.yaml: written plain, still text to Helm.
    "\n  - \"-Xmx512m\"\n  - \"::1\"\n  - \":30\"\n  - \"?x\"\n  - \"--x\"\n  - \"2024-foo\"\n  - \"2024-01-01-release\"\n  - \"yEs\"\n  - \"inf\"\n  - \"+.nan\"\n  - \"0x1p-2\"\n  - \"_1\"\n  - \"0x\"\n",
    // Escaped line separators and control characters.
    "\n  - \"\\u2028\\x85\\u2029\"\n  - \"\\0\\e\\t\"\n  - \"a\\nb\\n\"\n  - \"\\uFEFF\"\n",
    // Odd keys.
    "\n  yes: 1\n  010: 2\n  1.5: 3\n  1e3: 4\n  123456789.0: 5\n  0.1: 6\n  .inf: 7\n  \"\": 8\n  \"a: b\": 9\n  \"line\\nbreak\": 10\n",
    // Tags as go-yaml reads them.
    "\n  a: !!str 010\n  b: !!int \"12\"\n  c: !!binary aGVsbG8=\n  d: !foo bar\n  e: !!float 1\n  f: !!bool \"on\"\n  g: !!null \"\"\n  h: !foo {x: 1}\n",
    // Float keys that are exact ties for Go's float32 text (to even), in
    // exponent form too; underscores in a float that starts with `.`.
    "\n  474154.625: 1\n  4.74154625e5x: 2\n  474155.375: 3\n  -474154.875: 4\n  474155.125: 5\n  .1_0: 6\n  v: [.1_0, .1_0e1_0, .5_5e-1_0, .1__0, .1_e5, ._1]\n",
    "\n  4.74154625e5: 1\n",
    // A byte order mark inside a value or key is text to Helm.
    "\n  a: x\u{FEFF}y\n  b: [x\u{FEFF}y]\n  c: |\n    x\u{FEFF}y\n  d\u{FEFF}e: 1\n  f: \"\u{FEFF}\"\n",
    // Quoted strings continued on a line indented no more than their key.
    "\n  a: \"x\ny\"\n  b: 'p\n  q'\n  c: \"it\\\"s\n\n  on\"\n",
    // Tabs go-yaml allows: beyond the indentation after a plain value,
    // in a block scalar's content, in a flow collection, after a colon.
    "\n  a: x\n   \t\n  b: 1\n  c: |\n    x\n    \t\n    y\n  d: [1,\n   \t2]\n",
    // Multi-line strings.
    "\n  a: |\n    line one\n    line two: with colon\n  b: >-\n    folded\n    text\n  c: |2+\n     leading space\n\n",
];

#[test]
fn the_hand_picked_cases_reach_helm_unchanged() {
    let probe = Probe::new();
    let cases: Vec<String> = HAND_PICKED.iter().map(|c| c.to_string()).collect();
    assert_same_for_helm(&probe, &cases);
    // A byte order mark at the start (as Windows editors save files).
    let with_bom = format!("\u{FEFF}{}", batch_text(&cases));
    assert_same_for_helm_text(&probe, &with_bom, &cases);
}

#[test]
fn the_examples_of_issue_9_come_out_as_helm_reads_them() {
    let probe = Probe::new();
    let cases: Vec<String> = HAND_PICKED[..4].iter().map(|c| c.to_string()).collect();
    let rendered = probe.render(&batch_text(&cases));
    let values: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
    assert_eq!(
        values["case_0"]["use_registry"],
        serde_yaml::Value::Bool(true)
    );
    let merged: serde_yaml::Value = serde_yaml::from_str("{x: 1, w: 2, z: 3}").unwrap();
    assert_eq!(values["case_1"]["c"], merged);
    assert_eq!(values["case_2"]["<<"]["x"], serde_yaml::Value::from(1));
    assert_eq!(values["case_2"]["c"]["<<"], serde_yaml::Value::from(5));
    assert_eq!(values["case_3"]["d"], serde_yaml::Value::from(2));
    // Strings no reader takes for anything else are written plain.
    let cases = vec![HAND_PICKED[9].to_string()];
    let rendered = probe.render(&batch_text(&cases));
    assert!(
        rendered.contains("case_0:\n  - -Xmx512m\n  - ::1\n  - :30\n  - ?x\n  - --x\n  - 2024-foo\n  - 2024-01-01-release\n  - yEs\n  - inf\n  - +.nan\n  - 0x1p-2\n  - _1\n  - 0x\n"),
        "{rendered}"
    );
}

/// What binderctl refuses, Helm refuses too, or Helm 3 and Helm 4 read
/// differently.
#[test]
fn what_binderctl_refuses_helm_refuses_or_reads_two_ways() {
    let Some(helms) = support::real_tools::require_all(&["helm", "helm3"]) else {
        return;
    };
    let probe = Probe::new();
    let refused_by_helm = [
        (
            "case: .inf\n",
            "binder.yaml: case: .inf or .nan, which Helm refuses",
        ),
        ("case: [.nan]\n", "binder.yaml: case[0]: .inf or .nan"),
        ("case: {~: 1}\n", "a key Helm refuses (null)"),
        ("case: {18446744073709551615: 1}\n", "a key Helm refuses"),
        (
            "case: x\u{1}\n",
            "binder.yaml:12:8: holds a control character (U+0001)",
        ),
        ("case: \"x\u{9f}\"\n", "holds a control character (U+009F)"),
        ("case: {<<: 1}\n", "a merge key (<<) needs a mapping"),
        (
            "x: &x [{a: 1}]\ncase: {<<: *x}\n",
            "binder.yaml:13:12: a merge key",
        ),
        ("case: !!int 1.5\n", "a value tagged !!int that is a number"),
        ("case: {[1]: 2}\n", "a list or mapping used as a key"),
        (
            "case: &a [*a]\n",
            "an alias (*name) to an anchor that is not finished",
        ),
        (
            "case: \"a\\/b\"\n",
            "binder.yaml:12:7: the escape \\/ in double quotes",
        ),
        // Anchor names beyond go-yaml's letters, digits, _ and -.
        (
            "case: &a.b 1\n",
            "binder.yaml:12:7: the anchor name \"a.b\"",
        ),
        ("case: &\"00.5\" 1\n", "binder.yaml:12:7: the anchor name"),
        ("case: &x? 1\n", "binder.yaml:12:7: the anchor name \"x?\""),
        (
            "case: [&x? 1]\n",
            "binder.yaml:12:8: the anchor name \"x?\"",
        ),
        // Flow collections: `>` starts no token, `?` inside text, a key
        // over two lines.
        (
            "case: [>x]\n",
            "binder.yaml:12:8: plain text starting with `>`",
        ),
        (
            "case: {>: 1}\n",
            "binder.yaml:12:8: plain text starting with `>`",
        ),
        (
            "case: [a?b]\n",
            "binder.yaml:12:8: a `?` in plain text inside a flow",
        ),
        (
            "case: {x\n  y: 1}\n",
            "binder.yaml:12:8: a key over two lines inside a flow collection",
        ),
        (
            "case: {\"x\n  y\": 1}\n",
            "binder.yaml:12:8: a key over two lines inside a flow collection",
        ),
        // Tabs where go-yaml refuses them.
        (
            "case: 1\n\t",
            "binder.yaml:13:1: a tab where Helm's YAML reader",
        ),
        ("case: 1\n\t\nz: 2\n", "binder.yaml:13:1: a tab"),
        ("case:\n  \tb: 1\n", "binder.yaml:13:3: a tab"),
        ("case:\n  b: 1\n  \t\n  c: 2\n", "binder.yaml:14:3: a tab"),
        ("case:\n  - \tx\n", "binder.yaml:13:5: a tab"),
        ("case: \"x\"\n  \t\n", "binder.yaml:13:3: a tab"),
        ("case: |\n  x\n\t\n", "binder.yaml:14:1: a tab"),
    ];
    for (case, message) in refused_by_helm {
        let err = probe
            .try_render(&format!("{BINDERCTL_PART}{case}"))
            .unwrap_err();
        assert!(err.contains(message), "{case:?}: {err}");
        for helm in &helms {
            let read = probe.helm_json(helm, &format!("{BINDERCTL_PART}{case}"));
            assert!(read.is_err(), "{} reads {case:?}: {read:?}", helm.display());
        }
    }
    // Helm reads these otherwise than a YAML 1.2 reader (both Helms alike):
    // binderctl refuses them, naming line and column.
    for (case, message, helm_reads) in [
        (
            "case: [?x, y]\n",
            "binder.yaml:12:8: a `?` in plain text inside a flow collection",
            serde_json::json!([{"x": null}, true]),
        ),
        (
            "case: {a:}\n",
            "binder.yaml:12:8: a `:` right before `,`, `]` or `}`",
            serde_json::json!({"a:": null}),
        ),
        (
            "case: [a:]\n",
            "binder.yaml:12:8: a `:` right before",
            serde_json::json!(["a:"]),
        ),
        (
            "case: {a::, b: 1}\n",
            "binder.yaml:12:8: a `:` right before",
            serde_json::json!({"a::": null, "b": 1}),
        ),
    ] {
        let text = format!("{BINDERCTL_PART}{case}");
        let err = probe.try_render(&text).unwrap_err();
        assert!(err.contains(message), "{case:?}: {err}");
        for helm in &helms {
            let read = probe.helm_json(helm, &text).unwrap();
            assert_eq!(
                read["case"],
                helm_reads,
                "{} reads {case:?}",
                helm.display()
            );
        }
    }
    // Helm 3 and Helm 4 disagree: binderctl refuses.
    for (text, message) in [
        (
            "a: 1\n--- ~\n",
            "binder.yaml:2:1: text after the document marker `---`",
        ),
        ("--- ~\n", "binder.yaml:1:1: text after the document marker"),
        (
            "--- {}\n",
            "binder.yaml:1:1: text after the document marker",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "Helm 3 reads only the first and Helm 4 merges them all",
        ),
        ("---\n---\nb: 2\n", "several YAML documents"),
        (
            "%YAML 1.1\n---\na: 1\n",
            "binder.yaml:1:1: a YAML directive",
        ),
        (
            "a: |\n  x\n  y",
            "binder.yaml:2:3: the file ends inside this block scalar",
        ),
        (
            "a: >+\n  x",
            "ends inside this block scalar without a line break",
        ),
    ] {
        let err = probe.try_render(text).unwrap_err();
        assert!(err.contains(message), "{text:?}: {err}");
        let helm4 = probe.helm_json(&helms[0], text);
        let helm3 = probe.helm_json(&helms[1], text);
        assert_ne!(helm4, helm3, "{text:?}");
    }
    // Line separators: a line break to Helm, not to YAML 1.2 readers.
    let text = "a: x\u{2028}y\n";
    let err = probe.try_render(text).unwrap_err();
    assert!(
        err.contains("binder.yaml:1:5: holds a line separator"),
        "{err}"
    );
    for helm in &helms {
        let read = probe.helm_json(helm, text);
        assert_ne!(read, Ok(serde_json::json!({"a": "x\u{2028}y"})));
    }
    // Keys that become the same text: Helm keeps one at random.
    let text = "a:\n  1: one\n  \"1\": text\n";
    let err = probe.try_render(text).unwrap_err();
    assert!(
        err.contains(
            "binder.yaml: a: keys 1 (a number) and \"1\" (text) both reach Helm as the key \"1\""
        ),
        "{err}"
    );
}
