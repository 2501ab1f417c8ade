//! The conformance tier's tools are present and are the versions the README
//! names (fails under CI=true when `scripts/setup-real-tools` was not run).

mod support;

use std::process::Command;

fn version(tool: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect("run tool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_is_1_33_or_newer() {
    let kubectl = real_tool!("kubectl");
    let text = version(&kubectl, &["version", "--client", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("kubectl version JSON");
    let minor: u32 = json["clientVersion"]["minor"]
        .as_str()
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .expect("minor version");
    assert!(minor >= 33, "kubectl 1.{minor} is older than 1.33");
}

#[test]
fn helm_lines_3_and_4() {
    let helm4 = real_tool!("helm");
    let helm3 = real_tool!("helm3");
    assert!(version(&helm4, &["version", "--short"]).starts_with("v4."));
    assert!(version(&helm3, &["version", "--short"]).starts_with("v3.17"));
}

#[test]
fn validator_rejects_an_unknown_field() {
    let bad = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: '10'}, bogus: 1}\n";
    let good =
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: '10'}}\n";
    let Some(result) = support::real_tools::validate_manifest(bad) else {
        return;
    };
    assert!(result.is_err(), "an unknown field must fail validation");
    let result = support::real_tools::validate_manifest(good).expect("validator present");
    assert_eq!(result, Ok(()));
}
