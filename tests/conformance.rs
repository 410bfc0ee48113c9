//! Conformance with Kubernetes' own serialization: the k8s.io/api round-trip
//! fixtures hold, per Kubernetes version, an Event encoded as protobuf (`.pb`,
//! with the `k8s\0` envelope) and as JSON (`.json`), both written by that
//! version's Go code. Decoding every `.pb` must give exactly the `.json`
//! object: same keys, same values, same key order.
//!
//! Every version directory under `fixtures/third_party/kubernetes-api-testdata/`
//! is tested, so new versions are picked up by copying them in.

use std::fs;
use std::path::{Path, PathBuf};

use evforensics::decode::{decode_event, encode_stored_event, Encoding};
use evforensics::proto;
use prost::Message;
use serde_json::Value;

const EVENT_FIXTURES: [(&str, &str, &str); 3] = [
    ("core.v1.Event", "v1", "Event"),
    ("events.k8s.io.v1.Event", "events.k8s.io/v1", "Event"),
    (
        "events.k8s.io.v1beta1.Event",
        "events.k8s.io/v1beta1",
        "Event",
    ),
];

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/third_party/kubernetes-api-testdata")
}

/// Every version directory, sorted.
fn version_dirs() -> Vec<PathBuf> {
    let dir = testdata_dir();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no version directories in {}",
        dir.display()
    );
    dirs
}

/// (fixture base path, apiVersion, kind) for every Event fixture pair present.
fn fixture_pairs() -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut pairs = Vec::new();
    for dir in version_dirs() {
        for (base, api_version, kind) in EVENT_FIXTURES {
            let path = dir.join(base);
            let pb = path.with_extension("Event.pb");
            let json = path.with_extension("Event.json");
            assert_eq!(
                pb.exists(),
                json.exists(),
                "{}: .pb and .json must come in pairs",
                path.display()
            );
            if pb.exists() {
                pairs.push((path, api_version, kind));
            }
        }
    }
    assert!(!pairs.is_empty(), "no Event fixtures found");
    pairs
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

#[test]
fn every_protobuf_fixture_decodes_to_its_json() {
    let mut failures = Vec::new();
    let pairs = fixture_pairs();
    for (path, api_version, kind) in &pairs {
        let pb = read(&path.with_extension("Event.pb"));
        let expected: Value = serde_json::from_slice(&read(&path.with_extension("Event.json")))
            .expect("fixture JSON parses");
        let decoded = decode_event(&pb, None);
        let name = path
            .strip_prefix(testdata_dir())
            .unwrap_or(path)
            .display()
            .to_string();
        if decoded.encoding != Encoding::Protobuf {
            failures.push(format!("{name}: {:?} {:?}", decoded.encoding, decoded.note));
            continue;
        }
        assert_eq!(decoded.api_version.as_deref(), Some(*api_version), "{name}");
        assert_eq!(decoded.kind.as_deref(), Some(*kind), "{name}");
        assert!(!decoded.unknown_fields, "{name}: {:?}", decoded.note);
        assert_eq!(decoded.note, None, "{name}");
        let text = decoded.object.expect("object");
        let object: Value = match serde_json::from_str(&text) {
            Ok(object) => object,
            Err(err) => {
                failures.push(format!("{name}: not JSON ({err}): {text}"));
                continue;
            }
        };
        if object != expected {
            failures.push(format!(
                "{name}: values differ\n  ours:     {object}\n  expected: {expected}"
            ));
            continue;
        }
        // Same key order as Go (serde_json preserves both orders).
        let ours = serde_json::to_string(&object).expect("serializes");
        let theirs = serde_json::to_string(&expected).expect("serializes");
        if ours != theirs {
            failures.push(format!(
                "{name}: key order differs\n  ours:     {ours}\n  expected: {theirs}"
            ));
            continue;
        }
        // And the text itself is what serde_json prints for it.
        if text != ours {
            failures.push(format!(
                "{name}: text differs\n  ours:     {text}\n  expected: {ours}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} Event fixture pairs decode to Kubernetes' JSON",
        pairs.len()
    );
}

#[test]
fn resource_version_replaces_the_stored_one() {
    for (path, _, _) in fixture_pairs() {
        let pb = read(&path.with_extension("Event.pb"));
        let text = decode_event(&pb, Some(987_654)).object.expect("object");
        let object: Value = serde_json::from_str(&text).expect("object is JSON");
        assert_eq!(
            object["metadata"]["resourceVersion"],
            "987654",
            "{}",
            path.display()
        );
    }
}

#[test]
fn columns_match_the_fixture_json() {
    for (path, _, _) in fixture_pairs() {
        let pb = read(&path.with_extension("Event.pb"));
        let json = read(&path.with_extension("Event.json"));
        let from_protobuf = decode_event(&pb, None);
        // The JSON fixture is also a valid JSON-encoded stored value.
        let from_json = decode_event(&json, None);
        assert_eq!(from_json.encoding, Encoding::Json);
        assert_eq!(from_protobuf.fields, from_json.fields, "{}", path.display());
        // As text: key order included.
        assert_eq!(from_protobuf.object, from_json.object, "{}", path.display());
        assert!(from_protobuf.fields.name.is_some());
        assert!(from_protobuf.fields.reason.is_some());
    }
}

/// `encode_stored_event` must produce what an API server stores. Checked
/// against every real core/v1 `.pb`: the envelope is byte-identical around
/// `raw`, and decoding the re-encoded value gives the same Event. `raw`
/// itself is byte-identical too except where Go writes an empty map value
/// that prost leaves out (the pre-1.18 `fields` trie: `{"19": {}}`), which
/// decodes the same.
#[test]
fn encoder_reproduces_real_stored_values() {
    let mut checked = 0;
    let mut byte_identical = 0;
    for dir in version_dirs() {
        let path = dir.join("core.v1.Event.pb");
        if !path.exists() {
            continue;
        }
        let name = path.display();
        let stored = read(&path);
        let body = stored.strip_prefix(b"k8s\0").expect("envelope prefix");
        let envelope = proto::runtime::Unknown::decode(body).expect("envelope");
        let raw = envelope.raw.clone().unwrap_or_default();
        let event = proto::core::v1::Event::decode(raw.as_slice()).expect("event");
        let encoded = encode_stored_event(&event);

        let ours = proto::runtime::Unknown::decode(&encoded[4..]).expect("our envelope");
        assert_eq!(&encoded[..4], b"k8s\0", "{name}");
        assert_eq!(ours.type_meta, envelope.type_meta, "{name}");
        assert_eq!(ours.content_encoding.as_deref(), Some(""), "{name}");
        assert_eq!(ours.content_type.as_deref(), Some(""), "{name}");
        assert_eq!(envelope.content_encoding.as_deref(), Some(""), "{name}");
        assert_eq!(envelope.content_type.as_deref(), Some(""), "{name}");
        // typeMeta is the first field and byte-identical; contentEncoding and
        // contentType close the value as two empty fields.
        let type_meta_len = 2 + usize::from(body[1]);
        assert_eq!(
            encoded[4..4 + type_meta_len],
            body[..type_meta_len],
            "{name}"
        );
        assert!(encoded.ends_with(b"\x1a\x00\x22\x00") && stored.ends_with(b"\x1a\x00\x22\x00"));

        assert_eq!(
            decode_event(&encoded, None),
            decode_event(&stored, None),
            "{name}"
        );
        if encoded == stored {
            byte_identical += 1;
        } else {
            assert!(
                event
                    .metadata
                    .iter()
                    .flat_map(|m| &m.managed_fields)
                    .any(|e| e.fields.is_some()),
                "{name}: only the old fields trie may differ"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "no core.v1.Event.pb fixtures");
    assert!(byte_identical > 0);
    eprintln!("{checked} core/v1 fixtures re-encoded, {byte_identical} byte-identical");
}
