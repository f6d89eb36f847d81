//! The documentation must not drift from the code.
//!
//! - `docs/configuration.md` lists every configuration key of both binaries,
//!   and no key the code does not have. The code's keys come from the real
//!   types: the serialized default of `GatewayConfig` and `CaptureConfig`,
//!   flattened to dotted keys (`serde_json` writes unset `Option`s as
//!   `null`, so they are there too). Each row's environment name, default
//!   and flag are checked against the code as well.
//! - Every relative link in `README.md` and `docs/**/*.md` resolves to a file
//!   in the repository, and a `#anchor` into a Markdown file to one of its
//!   headings.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use clap::{Args, Command};
use samsyn_config::{
    CaptureArgs, CaptureConfig, ENV_NESTING, ENV_PREFIX, GatewayArgs, GatewayConfig,
};
use serde_json::Value;

const REFERENCE: &str = "docs/configuration.md";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the config crate lives in the workspace")
        .to_path_buf()
}

/// The dotted keys of a serialized configuration, with their default.
fn flatten(prefix: &str, value: &Value, keys: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&key, inner, keys);
            }
        }
        leaf => {
            keys.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

fn code_keys<T: serde::Serialize>(defaults: &T) -> BTreeMap<String, Value> {
    let value = serde_json::to_value(defaults).expect("configuration serializes to JSON");
    let mut keys = BTreeMap::new();
    flatten("", &value, &mut keys);
    keys
}

/// One row of a key table in the reference.
#[derive(Debug)]
struct Row {
    line: usize,
    key: String,
    flags: Vec<String>,
    env: String,
    default: String,
}

/// The text between backticks in a table cell: `a`, `b` → [a, b].
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// The key table under the heading that starts with `heading`.
fn reference_rows(text: &str, heading: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut inside = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            inside = line.starts_with(heading);
            continue;
        }
        if !inside || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 5,
            "{REFERENCE}:{}: a key row needs five cells (key | flag | environment | default | meaning): {line}",
            index + 1
        );
        let key = backticked(cells[0]).into_iter().next().unwrap_or_default();
        rows.push(Row {
            line: index + 1,
            key,
            flags: backticked(cells[1]),
            env: backticked(cells[2]).into_iter().next().unwrap_or_default(),
            default: cells[3].to_owned(),
        });
    }
    rows
}

/// How a default is written in the reference's default column.
fn written_default(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(format!("`\"{s}\"`")),
        Value::Array(items) if items.is_empty() => Some("`[]`".to_owned()),
        other => Some(format!("`{other}`")),
    }
}

/// The long flags of a binary's configuration, with their help text.
fn flags(command: Command) -> BTreeMap<String, String> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            Some((format!("--{long}"), help))
        })
        .filter(|(long, _)| long != "--config")
        .collect()
}

fn check_binary(
    text: &str,
    heading: &str,
    keys: &BTreeMap<String, Value>,
    flags: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) {
    let rows = reference_rows(text, heading);
    if rows.is_empty() {
        problems.push(format!(
            "{REFERENCE}: no key table under a heading starting with {heading:?}; keep the \
             section and its table (| key | flag | environment | default | meaning |)"
        ));
        return;
    }
    let mut documented = BTreeSet::new();
    let mut documented_flags = BTreeSet::new();
    for row in &rows {
        let at = format!("{REFERENCE}:{}", row.line);
        if !documented.insert(row.key.clone()) {
            problems.push(format!("{at}: `{}` is listed twice", row.key));
        }
        let Some(default) = keys.get(&row.key) else {
            problems.push(format!(
                "{at}: `{}` ({heading}) is not a key of the code's configuration; remove the \
                 row, or fix its name to the field in config/src/",
                row.key
            ));
            continue;
        };
        let env = format!(
            "{ENV_PREFIX}{}",
            row.key.replace('.', ENV_NESTING).to_ascii_uppercase()
        );
        if row.env != env {
            problems.push(format!(
                "{at}: `{}`: the environment variable is `{env}`, the reference says `{}`",
                row.key, row.env
            ));
        }
        match written_default(default) {
            Some(expected) if !row.default.contains(&expected) => problems.push(format!(
                "{at}: `{}`: the code's default is {expected}, the reference says {:?}; \
                 write the default as {expected}",
                row.key, row.default
            )),
            None if !row.default.starts_with("unset") => problems.push(format!(
                "{at}: `{}` is unset by default in the code; start its default cell with \
                 \"unset\" (then say what that means), not {:?}",
                row.key, row.default
            )),
            _ => {}
        }
        for flag in &row.flags {
            documented_flags.insert(flag.clone());
            match flags.get(flag) {
                None => problems.push(format!(
                    "{at}: `{}`: the flag `{flag}` does not exist ({heading}); fix or remove it",
                    row.key
                )),
                Some(help) if !help.contains(&env) => problems.push(format!(
                    "{at}: `{}`: the flag `{flag}` sets another key (its help text does not \
                     name {env}: {help:?})",
                    row.key
                )),
                Some(_) => {}
            }
        }
    }
    for key in keys.keys() {
        if !documented.contains(key) {
            problems.push(format!(
                "{REFERENCE}: `{key}` ({heading}) is a key in the code but has no row in the \
                 reference; add `| `{key}` | flag | environment | default | meaning |` to the table"
            ));
        }
    }
    for flag in flags.keys() {
        if !documented_flags.contains(flag) {
            problems.push(format!(
                "{REFERENCE}: the flag `{flag}` ({heading}) is in the code but in no row's flag \
                 column; put it beside the key it sets"
            ));
        }
    }
}

#[test]
fn configuration_reference_matches_the_code() {
    let path = repo_root().join(REFERENCE);
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: cannot read the reference: {err}", path.display()));
    let mut problems = Vec::new();
    check_binary(
        &text,
        "## samsyn-gateway",
        &code_keys(&GatewayConfig::default()),
        &flags(GatewayArgs::augment_args(Command::new("samsyn-gateway"))),
        &mut problems,
    );
    check_binary(
        &text,
        "## samsyn-capture",
        &code_keys(&CaptureConfig::default()),
        &flags(CaptureArgs::augment_args(Command::new("samsyn-capture"))),
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "the configuration reference has drifted from the code:\n  {}",
        problems.join("\n  ")
    );
}

/// Markdown files the links are checked in: README.md and docs/**.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut files);
    files.sort();
    files
}

/// The text outside fenced code blocks and inline code, line by line.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        lines.push((index + 1, prose));
    }
    lines
}

/// The targets of `[text](target)` and `![alt](target)` links on a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            break;
        };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target.trim_matches(['<', '>']).to_owned());
        rest = &after[end..];
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (with GitHub's `-1`, `-2` for
/// repeated headings).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').replace('`', "");
        let base = anchor(&heading);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// `path` without `.` and `..`, or `None` when it climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let root = repo_root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let text =
            fs::read_to_string(&file).unwrap_or_else(|err| panic!("{shown}: cannot read: {err}"));
        let dir = file.parent().unwrap_or(&root);
        for (line, prose) in prose_lines(&text) {
            for target in link_targets(&prose) {
                let at = format!("{shown}:{line}");
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path_part, fragment) = match target.split_once('#') {
                    Some((path, fragment)) => (path, Some(fragment)),
                    None => (target.as_str(), None),
                };
                if path_part.starts_with('/') {
                    problems.push(format!(
                        "{at}: link `{target}` is absolute; make it relative to {shown}"
                    ));
                    continue;
                }
                let resolved = if path_part.is_empty() {
                    Some(file.clone())
                } else {
                    normalize(&dir.join(path_part)).filter(|path| path.starts_with(&root))
                };
                let Some(resolved) = resolved else {
                    problems.push(format!(
                        "{at}: link `{target}` leads out of the repository; link to a file \
                         inside it"
                    ));
                    continue;
                };
                if !resolved.exists() {
                    problems.push(format!(
                        "{at}: link `{target}` points to {}, which does not exist; fix the \
                         path or create the file",
                        resolved.strip_prefix(&root).unwrap_or(&resolved).display()
                    ));
                    continue;
                }
                let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
                    continue;
                };
                if resolved.extension().is_some_and(|ext| ext == "md") {
                    let target_text = fs::read_to_string(&resolved).unwrap_or_default();
                    if !anchors(&target_text).contains(fragment) {
                        problems.push(format!(
                            "{at}: link `{target}`: {} has no heading with the anchor \
                             #{fragment}; fix the anchor or the heading",
                            resolved.strip_prefix(&root).unwrap_or(&resolved).display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no relative links found: is the link parser broken?"
    );
    assert!(
        problems.is_empty(),
        "links in the docs do not resolve:\n  {}",
        problems.join("\n  ")
    );
}
