//! Reads the resources the local stack must create from `template.yaml`
//! itself, so local and deployed shapes cannot drift.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde_yaml::Value;

pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// The template's `Resources` section. CloudFormation tags (`!Ref`, `!Sub`)
/// parse as tagged values and are ignored where not needed.
pub fn resources(path: &Path) -> anyhow::Result<serde_yaml::Mapping> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value = serde_yaml::from_str(&text).context("parsing template.yaml")?;
    doc.get("Resources")
        .and_then(Value::as_mapping)
        .cloned()
        .ok_or_else(|| anyhow!("template.yaml has no Resources"))
}

/// The properties of the one resource of `kind` (e.g. `AWS::DynamoDB::Table`).
pub fn properties_of(resources: &serde_yaml::Mapping, kind: &str) -> anyhow::Result<Value> {
    let mut found = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some(kind));
    let resource = found
        .next()
        .ok_or_else(|| anyhow!("no {kind} in template.yaml"))?;
    if found.next().is_some() {
        return Err(anyhow!("more than one {kind} in template.yaml"));
    }
    resource
        .get("Properties")
        .cloned()
        .ok_or_else(|| anyhow!("{kind} has no Properties"))
}

pub fn str_at<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing string {key}"))
}

pub fn seq_at<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a Vec<Value>> {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("missing list {key}"))
}

/// The properties of the resource named `logical_id`.
pub fn properties_named(
    resources: &serde_yaml::Mapping,
    logical_id: &str,
) -> anyhow::Result<Value> {
    resources
        .get(logical_id)
        .and_then(|r| r.get("Properties"))
        .cloned()
        .ok_or_else(|| anyhow!("no {logical_id} with Properties in template.yaml"))
}
