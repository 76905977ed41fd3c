//! The cel-spec conformance suite, run through our engine over the tests that need no protobuf
//! messages.
//!
//! `crates/cel/conformance/setup.sh` installs the npm package `@bufbuild/cel-spec` (which ships
//! the suite) and exports its tests to JSON. Each test is a `cel.expr.conformance.test.SimpleTest`
//! in proto-JSON: an expression, optional bindings, and the expected value or error.
//!
//! `conformance/known_failures.txt` lists the tests we know fail, one per line as
//! `<suite>/<section>/<test> -- <reason>`. The test fails if a test outside the list fails, if a
//! listed test passes (so the list stays honest), if a listed test is no longer in the subset, or
//! if fewer than 95% of the subset pass. Set `UPDATE_KNOWN_FAILURES=1` to print the current
//! failures in that format.

use base64::Engine as _;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use tributary_cel::CelEngine;
use tributary_cel::conformance::{self, cel};

use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelString, CelTimestamp, CelType, CelUInt, Kind,
};
use cel::common::value::Val;

const REQUIRED_PASS_RATE: f64 = 0.95;

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// A test, flattened: its path of suite names and its proto-JSON `SimpleTest`.
struct Case {
    path: String,
    test: Json,
}

fn collect(suite: &Json, prefix: &str, out: &mut Vec<Case>) {
    let name = suite["name"].as_str().unwrap_or("?");
    let path = if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    };
    for sub in suite["suites"].as_array().into_iter().flatten() {
        collect(sub, &path, out);
    }
    for test in suite["tests"].as_array().into_iter().flatten() {
        let original = &test["original"];
        let name = original["name"].as_str().unwrap_or("?");
        out.push(Case {
            path: format!("{path}/{name}"),
            test: original.clone(),
        });
    }
}

/// Suites about protobuf messages, their wrappers and enums.
const PROTOBUF_SUITES: [&str; 6] = [
    "proto2",
    "proto3",
    "proto2_ext",
    "wrappers",
    "enums",
    "dynamic",
];

/// Why a test needs protobuf messages (so is outside the subset), if it does.
fn needs_protobuf(case: &Case) -> Option<&'static str> {
    let suite = case.path.split('/').nth(1).unwrap_or("");
    if PROTOBUF_SUITES.contains(&suite) {
        return Some("a protobuf suite");
    }
    let test = &case.test;
    if test["container"].as_str().is_some_and(|c| !c.is_empty()) {
        return Some("a protobuf package as container");
    }
    if test["checkOnly"].as_bool() == Some(true) {
        return Some("type-checker only");
    }
    let expr = test["expr"].as_str().unwrap_or("");
    if expr.contains("TestAllTypes") || constructs_message(expr) {
        return Some("constructs a message");
    }
    let mut values: Vec<&Json> = vec![&test["value"], &test["typedResult"]["result"]];
    if let Some(bindings) = test["bindings"].as_object() {
        values.extend(bindings.values().map(|b| &b["value"]));
    }
    if values.iter().any(|v| holds_message(v)) {
        return Some("a message value");
    }
    None
}

/// `Name{...}`: a message literal. Map literals start with `{` without a type name.
fn constructs_message(expr: &str) -> bool {
    let bytes = expr.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'{'
            && i > 0
            && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
            && expr[..i]
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .next()
                .is_some_and(|name| name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
    })
}

fn holds_message(value: &Json) -> bool {
    match value {
        Json::Object(fields) => {
            if fields.contains_key("enumValue") {
                return true;
            }
            if let Some(object) = fields.get("objectValue") {
                return !matches!(
                    object["@type"].as_str(),
                    Some(DURATION_URL) | Some(TIMESTAMP_URL)
                );
            }
            fields.values().any(holds_message)
        }
        Json::Array(items) => items.iter().any(holds_message),
        _ => false,
    }
}

const DURATION_URL: &str = "type.googleapis.com/google.protobuf.Duration";
const TIMESTAMP_URL: &str = "type.googleapis.com/google.protobuf.Timestamp";

fn number<T: std::str::FromStr>(value: &Json) -> Option<T> {
    match value {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn double(value: &Json) -> Option<f64> {
    match value {
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        Json::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn duration(text: &str) -> Option<chrono::Duration> {
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    let nanos = (seconds * 1e9).round() as i64;
    Some(chrono::Duration::nanoseconds(nanos))
}

/// A proto-JSON `cel.expr.Value` as a CEL value.
fn to_val(value: &Json) -> Result<Box<dyn Val>, String> {
    let (kind, inner) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(|| format!("not a Value: {value}"))?;
    let bad = || format!("bad {kind}: {inner}");
    Ok(match kind.as_str() {
        "nullValue" => Box::new(CelNull),
        "boolValue" => Box::new(CelBool::from(inner.as_bool().ok_or_else(bad)?)),
        "int64Value" => Box::new(CelInt::from(number::<i64>(inner).ok_or_else(bad)?)),
        "uint64Value" => Box::new(CelUInt::from(number::<u64>(inner).ok_or_else(bad)?)),
        "doubleValue" => Box::new(CelDouble::from(double(inner).ok_or_else(bad)?)),
        "stringValue" => Box::new(CelString::from(inner.as_str().ok_or_else(bad)?.to_owned())),
        "bytesValue" => Box::new(CelBytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(inner.as_str().ok_or_else(bad)?)
                .map_err(|_| bad())?,
        )),
        "typeValue" => Box::new(CelType::new(inner.as_str().ok_or_else(bad)?.to_owned())),
        "listValue" => {
            let items: Vec<Box<dyn Val>> = inner["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(to_val)
                .collect::<Result<_, _>>()?;
            Box::new(CelList::from(items))
        }
        "mapValue" => {
            let mut map: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::new();
            for entry in inner["entries"].as_array().into_iter().flatten() {
                let key = to_val(&entry["key"])?;
                let key = CelMapKey::try_from(key).map_err(|e| e.to_string())?;
                map.insert(key, to_val(&entry["value"])?);
            }
            Box::new(CelMap::from(map))
        }
        "objectValue" => match inner["@type"].as_str() {
            Some(DURATION_URL) => Box::new(CelDuration::from(
                duration(inner["value"].as_str().ok_or_else(bad)?).ok_or_else(bad)?,
            )),
            Some(TIMESTAMP_URL) => Box::new(CelTimestamp::from(
                chrono::DateTime::parse_from_rfc3339(inner["value"].as_str().ok_or_else(bad)?)
                    .map_err(|_| bad())?,
            )),
            _ => return Err(bad()),
        },
        _ => return Err(format!("unsupported Value kind {kind}")),
    })
}

/// Whether `actual` is the value `expected` describes, type included.
fn matches(actual: &dyn Val, expected: &Json) -> Result<(), String> {
    let expected_val = to_val(expected)?;
    if same(actual, expected_val.as_ref()) {
        Ok(())
    } else {
        Err(format!("expected {expected_val:?}, got {actual:?}"))
    }
}

fn same(a: &dyn Val, b: &dyn Val) -> bool {
    let (ka, kb) = (a.get_type().kind(), b.get_type().kind());
    if ka != kb {
        return false;
    }
    match ka {
        Kind::Double => match (a.downcast_ref::<CelDouble>(), b.downcast_ref::<CelDouble>()) {
            (Some(x), Some(y)) => {
                let (x, y) = (*x.inner(), *y.inner());
                (x.is_nan() && y.is_nan()) || x == y
            }
            _ => false,
        },
        Kind::Type => match (a.downcast_ref::<CelType>(), b.downcast_ref::<CelType>()) {
            (Some(x), Some(y)) => x.name() == y.name(),
            _ => false,
        },
        Kind::List => {
            let (Some(x), Some(y)) = (a.as_iterable(), b.as_iterable()) else {
                return false;
            };
            let (mut x, mut y) = (x.iter(), y.iter());
            loop {
                match (x.next(), y.next()) {
                    (None, None) => return true,
                    (Some(p), Some(q)) if same(p, q) => {}
                    _ => return false,
                }
            }
        }
        Kind::Map => {
            let (Some(xs), Some(ys)) = (a.as_sizer(), b.as_sizer()) else {
                return false;
            };
            if xs.size() != ys.size() {
                return false;
            }
            let (Some(keys), Some(x), Some(y)) = (a.as_iterable(), a.as_indexer(), b.as_indexer())
            else {
                return false;
            };
            let mut keys = keys.iter();
            while let Some(key) = keys.next() {
                match (x.get(key), y.get(key)) {
                    (Ok(p), Ok(q)) if same(p.as_ref(), q.as_ref()) => {}
                    _ => return false,
                }
            }
            true
        }
        _ => a.equals(b),
    }
}

/// Runs one test: `Ok` if it passes, otherwise why not.
fn run(engine: &CelEngine, test: &Json) -> Result<(), String> {
    let expr = test["expr"].as_str().ok_or("no expr")?;
    let mut variables: Vec<(String, Box<dyn Val>)> = Vec::new();
    for (name, binding) in test["bindings"].as_object().into_iter().flatten() {
        variables.push((name.clone(), to_val(&binding["value"])?));
    }
    let expected = if !test["value"].is_null() {
        Some(&test["value"])
    } else if !test["typedResult"]["result"].is_null() {
        Some(&test["typedResult"]["result"])
    } else {
        None
    };
    let expects_error = !test["evalError"].is_null();
    let check_references = test["disableCheck"].as_bool() != Some(true);
    let outcome =
        conformance::evaluate(
            engine,
            expr,
            &variables,
            check_references,
            |actual| match expected {
                Some(expected) => matches(actual, expected),
                None if expects_error => Err(format!("expected an error, got {actual:?}")),
                // A test that states no result expects `true`.
                None => matches(actual, &serde_json::json!({"boolValue": true})),
            },
        );
    match outcome {
        Ok(result) => result,
        Err(_) if expects_error => Ok(()),
        Err(error) => Err(format!("error: {}", error.message())),
    }
}

fn known_failures() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(conformance_dir().join("known_failures.txt"))
        .expect("conformance/known_failures.txt is committed");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, reason) = line
                .split_once(" -- ")
                .unwrap_or_else(|| panic!("`{line}` has no ` -- reason`"));
            (name.trim().to_owned(), reason.trim().to_owned())
        })
        .collect()
}

#[test]
fn cel_spec_conformance() {
    let path = conformance_dir().join("node_modules/.tributary/conformance.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        let message = format!(
            "the cel-spec conformance suite is not installed ({} is missing): run crates/cel/conformance/setup.sh",
            path.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("skipping: {message}");
        return;
    };
    let suite: Json = serde_json::from_str(&text).expect("the exported suite is JSON");
    let mut cases = Vec::new();
    collect(&suite, "", &mut cases);
    assert!(cases.len() > 1000, "only {} tests found", cases.len());

    let engine = CelEngine::default();
    let subset: Vec<&Case> = cases
        .iter()
        .filter(|c| needs_protobuf(c).is_none())
        .collect();
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for case in &subset {
        if let Err(reason) = run(&engine, &case.test) {
            failures.insert(case.path.clone(), reason);
        }
    }

    if std::env::var("UPDATE_KNOWN_FAILURES").is_ok() {
        for (name, reason) in &failures {
            println!("{name} -- {}", reason.replace('\n', " "));
        }
    }

    let known = known_failures();
    let in_subset: std::collections::BTreeSet<&str> =
        subset.iter().map(|c| c.path.as_str()).collect();
    let unexpected: Vec<String> = failures
        .iter()
        .filter(|(name, _)| !known.contains_key(*name))
        .map(|(name, reason)| format!("  {name}: {reason}"))
        .collect();
    let now_passing: Vec<&String> = known
        .keys()
        .filter(|name| in_subset.contains(name.as_str()) && !failures.contains_key(*name))
        .collect();
    let stale: Vec<&String> = known
        .keys()
        .filter(|name| !in_subset.contains(name.as_str()))
        .collect();

    let passed = subset.len() - failures.len();
    let rate = passed as f64 / subset.len() as f64;
    println!(
        "cel-spec conformance: {passed} of {} tests without protobuf messages pass ({:.1}%); {} tests need protobuf messages and are not run",
        subset.len(),
        rate * 100.0,
        cases.len() - subset.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} tests fail that known_failures.txt does not list:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        now_passing.is_empty(),
        "these tests pass now: remove them from known_failures.txt: {now_passing:?}"
    );
    assert!(
        stale.is_empty(),
        "known_failures.txt lists tests that are not in the suite's protobuf-free subset: {stale:?}"
    );
    assert!(
        rate >= REQUIRED_PASS_RATE,
        "{:.1}% pass, below the required {:.0}%",
        rate * 100.0,
        REQUIRED_PASS_RATE * 100.0
    );
}
