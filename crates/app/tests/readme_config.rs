//! The configuration table of `README.md` cannot drift from the code.
//!
//! The table under `## Configuration` has one row per setting: `| key | default | meaning |`,
//! the key written as `` `section.key` ``. The set of keys the code knows is read off
//! `Settings::default()` serialised to JSON (optional settings serialise as `null`, so
//! they are listed too), flattened to `section.key`. Both sets must be equal, and every
//! default must agree with the code:
//!
//! - `` `value` `` (one value in backticks): the serialised default, as text;
//! - `—`: unset (`null` in the code);
//! - `*…*` (italics): computed at start-up (CPU count, a random secret), not compared.
//!
//! Add a setting to `settings.rs` and this test names the row the README lacks; rename or
//! remove one and it names the stale row.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use app::settings::Settings;
use serde_json::Value;

/// What the README's default column says about one key.
#[derive(Debug, PartialEq, Eq)]
enum StatedDefault {
    /// A plain value, compared with the code.
    Plain(String),
    /// `—`: no default, the setting is unset.
    Unset,
    /// Computed at start-up; not compared.
    Computed,
}

impl StatedDefault {
    /// As written in the table.
    fn describe(&self) -> String {
        match self {
            Self::Plain(value) => format!("`{value}`"),
            Self::Unset => "unset (—)".to_owned(),
            Self::Computed => "computed".to_owned(),
        }
    }
}

/// One row of the table.
#[derive(Debug)]
struct Row {
    key: String,
    default: StatedDefault,
    line: usize,
}

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// Text between the first pair of backticks when it is the whole cell.
fn backticked(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.is_empty() && !inner.contains('`')).then_some(inner)
}

/// The first two cells of a table line (`| a | b | …`); the meaning may hold anything.
fn first_two_cells(line: &str) -> Option<(&str, &str)> {
    let mut cells = line.trim().strip_prefix('|')?.split('|');
    Some((cells.next()?.trim(), cells.next()?.trim()))
}

fn parse_default(cell: &str, line: usize) -> StatedDefault {
    if cell == "—" {
        return StatedDefault::Unset;
    }
    if cell.len() > 2 && cell.starts_with('*') && cell.ends_with('*') {
        return StatedDefault::Computed;
    }
    match backticked(cell) {
        Some(value) => StatedDefault::Plain(value.to_owned()),
        None => panic!(
            "README.md:{line}: default {cell:?} must be one value in backticks, `—` for \
             unset, or *italics* for a value computed at start-up"
        ),
    }
}

/// Every row of the table under `## Configuration`.
fn readme_rows() -> Vec<Row> {
    let path = readme_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let section = lines
        .iter()
        .position(|l| l.trim() == "## Configuration")
        .expect("README.md has a `## Configuration` section");
    let end = lines[section + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| section + 1 + i);
    let start = (section + 1..end)
        .find(|&i| lines[i].trim_start().starts_with('|'))
        .expect("the Configuration section has a table");
    let table: Vec<(usize, &str)> = (start..end)
        .map(|i| (i + 1, lines[i]))
        .take_while(|(_, l)| l.trim_start().starts_with('|'))
        .collect();
    assert!(
        table.len() > 2,
        "README.md:{}: the configuration table has no rows",
        start + 1
    );

    let header: Vec<&str> = table[0]
        .1
        .trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["key", "default", "meaning"],
        "README.md:{}: columns of the configuration table",
        table[0].0
    );

    table[2..]
        .iter()
        .map(|&(line, text)| {
            let (key, default) = first_two_cells(text)
                .unwrap_or_else(|| panic!("README.md:{line}: not a table row: {text:?}"));
            let key = backticked(key)
                .filter(|k| k.split('.').count() == 2 && !k.contains(' '))
                .unwrap_or_else(|| {
                    panic!(
                        "README.md:{line}: the key cell {key:?} must name one key as \
                         `section.key`"
                    )
                });
            Row {
                key: key.to_owned(),
                default: parse_default(default, line),
                line,
            }
        })
        .collect()
}

/// Flattens nested objects to dotted keys.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let dotted = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&dotted, inner, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

/// Every setting the code knows, with its built-in default.
fn code_defaults() -> BTreeMap<String, Value> {
    let value = serde_json::to_value(Settings::default()).expect("the defaults serialise");
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

/// A serialised default as the README would write it.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[test]
fn the_table_names_each_key_once() {
    let mut seen = BTreeMap::new();
    for row in readme_rows() {
        if let Some(first) = seen.insert(row.key.clone(), row.line) {
            panic!(
                "README.md:{}: `{}` is already listed on line {first}",
                row.line, row.key
            );
        }
    }
}

#[test]
fn every_setting_of_the_code_is_in_the_readme() {
    let documented: BTreeSet<String> = readme_rows().into_iter().map(|r| r.key).collect();
    let missing: Vec<String> = code_defaults()
        .into_keys()
        .filter(|k| !documented.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "settings missing from the README configuration table: {missing:?}"
    );
}

#[test]
fn every_key_of_the_readme_exists_in_the_code() {
    let known = code_defaults();
    let unknown: Vec<String> = readme_rows()
        .into_iter()
        .filter(|r| !known.contains_key(&r.key))
        .map(|r| format!("README.md:{}: `{}`", r.line, r.key))
        .collect();
    assert!(
        unknown.is_empty(),
        "the README documents settings the code does not have: {unknown:?}"
    );
}

#[test]
fn readme_defaults_match_the_code() {
    let known = code_defaults();
    let mut wrong = Vec::new();
    for row in readme_rows() {
        let Some(value) = known.get(&row.key) else {
            continue; // reported by `every_key_of_the_readme_exists_in_the_code`
        };
        let actual = as_text(value);
        let ok = match &row.default {
            StatedDefault::Computed => true,
            StatedDefault::Unset => actual.is_none(),
            StatedDefault::Plain(stated) => actual.as_deref() == Some(stated.as_str()),
        };
        if !ok {
            let actual = actual.map_or_else(|| "unset (—)".to_owned(), |a| format!("`{a}`"));
            wrong.push(format!(
                "README.md:{}: `{}` says {}, the code's default is {actual}",
                row.line,
                row.key,
                row.default.describe()
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong defaults:\n{}", wrong.join("\n"));
}

#[test]
fn the_checks_read_what_they_claim() {
    // The parsing itself, on the shapes the table uses.
    assert_eq!(backticked("`3003`"), Some("3003"));
    assert_eq!(backticked("`a` / `b`"), None);
    assert_eq!(parse_default("—", 1), StatedDefault::Unset);
    assert_eq!(
        parse_default("*computed: CPU count*", 1),
        StatedDefault::Computed
    );
    assert_eq!(
        parse_default("`./data/users.redb`", 1),
        StatedDefault::Plain("./data/users.redb".to_owned())
    );
    assert_eq!(
        first_two_cells("| `log.level` | `info` | a | b |"),
        Some(("`log.level`", "`info`"))
    );
    let defaults = code_defaults();
    assert_eq!(defaults.get("server.port"), Some(&Value::from(3003)));
    assert_eq!(defaults.get("auth.jwt_secret"), Some(&Value::Null));
}
