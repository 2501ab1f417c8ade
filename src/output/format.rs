//! `-o json|yaml|wide|name` and `--no-headers` for the read commands: one
//! function prints whatever a command found in the format asked for. JSON
//! and YAML carry the documented field names (docs/output-and-conventions.md, "Output formats");
//! they go to stdout alone, messages stay on stderr. YAML is written by the
//! one YAML writer (`values::write`), which quotes what YAML 1.1 would
//! misread.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::output::table::TableStyle;

/// `-o FORMAT`'s choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// JSON, the documented field names.
    Json,
    /// YAML, the same fields as JSON.
    Yaml,
    /// The table with more columns.
    Wide,
    /// Names only, one per line.
    Name,
}

/// How a read command prints what it found: `-o FORMAT` (a table when
/// unset) and `--no-headers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputOptions {
    pub output: Option<OutputFormat>,
    pub no_headers: bool,
}

/// Print `value` as `args` asks: as JSON or YAML, as names one per line, or
/// as the table `table` draws (wide with `-o wide`).
pub fn print<T: Serialize + ?Sized>(
    args: &OutputOptions,
    value: &T,
    names: impl FnOnce() -> Vec<String>,
    table: impl FnOnce(TableStyle) -> String,
) -> Result<()> {
    super::data(&render(args, value, names, table)?);
    Ok(())
}

/// The text [`print`] prints.
pub fn render<T: Serialize + ?Sized>(
    args: &OutputOptions,
    value: &T,
    names: impl FnOnce() -> Vec<String>,
    table: impl FnOnce(TableStyle) -> String,
) -> Result<String> {
    let style = TableStyle {
        wide: args.output == Some(OutputFormat::Wide),
        headers: !args.no_headers,
    };
    Ok(match args.output {
        Some(OutputFormat::Json) => {
            let mut text =
                serde_json::to_string_pretty(value).context("cannot write the output as JSON")?;
            text.push('\n');
            text
        }
        Some(OutputFormat::Yaml) => {
            // The Helm-safe writer, so a node or pod named `no`, `on` or `y`
            // comes out quoted and a YAML 1.1 reader keeps it a string.
            let value = serde_yaml::to_value(value).context("cannot write the output as YAML")?;
            crate::values::write::to_string(&value).context("cannot write the output as YAML")?
        }
        Some(OutputFormat::Name) => names().iter().map(|n| format!("{n}\n")).collect(),
        Some(OutputFormat::Wide) | None => table(style),
    })
}

/// Whether the output is a table (messages such as "No pods match" belong
/// only there: an empty JSON list says it by itself).
pub fn is_table(args: &OutputOptions) -> bool {
    matches!(args.output, None | Some(OutputFormat::Wide))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        name: String,
        ready: bool,
    }

    fn args(output: Option<OutputFormat>, no_headers: bool) -> OutputOptions {
        OutputOptions { output, no_headers }
    }

    fn rendered(args: &OutputOptions) -> String {
        let rows = vec![Row {
            name: "hub-1".into(),
            ready: true,
        }];
        render(
            args,
            &rows,
            || rows.iter().map(|r| format!("pod/{}", r.name)).collect(),
            |style| format!("wide={} headers={}\n", style.wide, style.headers),
        )
        .unwrap()
    }

    #[test]
    fn yaml_quotes_names_a_yaml_1_1_reader_would_take_for_booleans() {
        // serde_yaml's own serializer wrote these plain; Helm and PyYAML
        // then read `no` as false.
        let rows: Vec<Row> = ["no", "on", "y", "off", "1:30"]
            .into_iter()
            .map(|name| Row {
                name: name.into(),
                ready: false,
            })
            .collect();
        let yaml = render(
            &args(Some(OutputFormat::Yaml), false),
            &rows,
            Vec::new,
            |_| String::new(),
        )
        .unwrap();
        for name in ["no", "on", "y", "off", "1:30"] {
            assert!(
                yaml.contains(&format!("- name: \"{name}\"\n"))
                    || yaml.contains(&format!("- name: '{name}'\n")),
                "{name}: {yaml}"
            );
        }
        assert!(yaml.contains("  ready: false\n"), "{yaml}");
        let empty: Vec<Row> = Vec::new();
        let yaml = render(
            &args(Some(OutputFormat::Yaml), false),
            &empty,
            Vec::new,
            |_| String::new(),
        )
        .unwrap();
        assert_eq!(yaml, "[]\n");
    }

    #[test]
    fn each_format() {
        let json = rendered(&args(Some(OutputFormat::Json), false));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[0]["name"], "hub-1");
        assert_eq!(parsed[0]["ready"], true);
        let yaml = rendered(&args(Some(OutputFormat::Yaml), false));
        assert_eq!(yaml, "- name: hub-1\n  ready: true\n");
        assert_eq!(
            rendered(&args(Some(OutputFormat::Name), false)),
            "pod/hub-1\n"
        );
        assert_eq!(rendered(&args(None, false)), "wide=false headers=true\n");
        assert_eq!(
            rendered(&args(Some(OutputFormat::Wide), true)),
            "wide=true headers=false\n"
        );
    }
}
