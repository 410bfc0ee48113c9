//! The shape check (issue 14): every Event JSON the decoder writes must be
//! a Kubernetes Event as the canonical Rust types (k8s-openapi) read it —
//! `core::v1::Event` for `v1`, `events::v1::Event` for `events.k8s.io` —
//! and lose nothing on the way: read into the type and written back, it is
//! the same JSON. Checked on the k8s.io/api round-trip fixtures of every
//! Kubernetes version and on the Events of the shipped sample snapshot
//! (written by a real etcd). This checks the kubectl shape against the
//! types, beside the golden JSON files of `tests/conformance.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use evforensics::decode::{decode_event, Encoding};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as EventsEvent;
use serde_json::Value;

/// Why `json` is not an Event of its apiVersion, or `None`.
fn shape_problem(json: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return Some(format!("not JSON: {e}")),
    };
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
    let back = match api_version.as_str() {
        "v1" => serde_json::from_value::<CoreEvent>(value.clone()).and_then(serde_json::to_value),
        // v1beta1 has the fields of v1 (k8s-openapi keeps only the served
        // version): read as v1, its apiVersion restored.
        "events.k8s.io/v1" | "events.k8s.io/v1beta1" => {
            let mut as_v1 = value.clone();
            as_v1["apiVersion"] = Value::String("events.k8s.io/v1".into());
            serde_json::from_value::<EventsEvent>(as_v1)
                .and_then(serde_json::to_value)
                .map(|mut v| {
                    v["apiVersion"] = Value::String(api_version.clone());
                    v
                })
        }
        other => return Some(format!("apiVersion {other:?} is not an Event's")),
    };
    let back = match back {
        Err(e) => return Some(format!("not a {api_version} Event: {e}")),
        Ok(back) => back,
    };
    let mut problems = Vec::new();
    differences(&value, &back, "", &mut problems);
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "read as a {api_version} Event: {}\n  ours: {value}\n  back: {back}",
            problems.join("; ")
        ))
    }
}

/// Fields of older Kubernetes versions that 1.34 no longer has: Go wrote
/// them then, so they are right in a decoded old value, and k8s-openapi
/// (1.34) drops them. Anything else lost is a shape error.
const REMOVED_SINCE: &[&str] = &[
    // ObjectMeta.clusterName, removed in 1.25.
    "metadata.clusterName",
    // ManagedFieldsEntry.fields, 1.14–1.15 (fieldsV1 since 1.16).
    "metadata.managedFields[].fields",
    // EventSeries.state, removed in 1.17.
    "series.state",
];

/// What differs between our JSON and k8s-openapi's reading of it, by
/// path: a value changed, or a field lost that is not in
/// [`REMOVED_SINCE`]. A null is an absent field (Go writes a zero time as
/// `null`, k8s-openapi leaves it out).
fn differences(ours: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(w) => differences(v, w, &p, out),
                    None if v.is_null() || REMOVED_SINCE.contains(&p.as_str()) => {}
                    None => out.push(format!("{p} lost")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k} added"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (v, w) in a.iter().zip(b) {
                differences(v, w, &format!("{path}[]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/third_party/kubernetes-api-testdata")
}

/// Every `*.Event.pb` of every version directory.
fn event_fixtures() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in fs::read_dir(testdata_dir()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(".Event.pb") {
                found.push(f);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_decoded_fixture_is_a_kubernetes_event() {
    let fixtures = event_fixtures();
    assert!(fixtures.len() >= 3, "{fixtures:?}");
    let mut failures = Vec::new();
    for f in &fixtures {
        let decoded = decode_event(&fs::read(f).unwrap(), None);
        assert_eq!(decoded.encoding, Encoding::Protobuf, "{}", f.display());
        let json = decoded.object.expect("object");
        if let Some(problem) = shape_problem(&json) {
            failures.push(format!("{}: {problem}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_event_of_the_sample_is_a_kubernetes_event() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("sample.sqlite");
    Command::cargo_bin("evforensics")
        .unwrap()
        .args(["ingest", "--db"])
        .arg(&db)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/snapshot.db"))
        .assert()
        .code(0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT key, object FROM events WHERE object IS NOT NULL")
        .unwrap();
    let objects: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(objects.len() >= 20);
    let failures: Vec<String> = objects
        .iter()
        .filter_map(|(key, json)| shape_problem(json).map(|p| format!("{key}: {p}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The check bites: a wrong type, an unknown field, a changed time.
#[test]
fn the_check_finds_what_is_not_an_event() {
    let good = r#"{"kind":"Event","apiVersion":"v1","metadata":{"name":"a","namespace":"n","creationTimestamp":null},"involvedObject":{"kind":"Pod","name":"p"},"reason":"BackOff","count":3,"firstTimestamp":"2026-11-20T09:30:00Z","eventTime":null}"#;
    assert_eq!(shape_problem(good), None);
    let wrong_type = good.replace(r#""count":3"#, r#""count":"3""#);
    assert!(shape_problem(&wrong_type)
        .unwrap()
        .contains("not a v1 Event"));
    let unknown = good.replace(r#""reason""#, r#""reasn":"x","reason""#);
    assert!(shape_problem(&unknown).unwrap().contains("reasn lost"));
    let micro = good.replace("09:30:00Z", "09:30:00.5Z");
    assert!(shape_problem(&micro).is_some(), "a Time has whole seconds");
}
