use super::reader::{MAX_DOCUMENT_BYTES, MAX_NESTING};
use super::*;
use serde_json::Value;

const V1: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web","verb":"delete","user":{"username":"alice","groups":["dev","system:authenticated"]},"impersonatedUser":{"username":"bob"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.31","objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1","uid":"u-1","resourceVersion":"42"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-20T09:40:00.1Z","stageTimestamp":"2026-11-20T10:40:00.123456789+01:00","annotations":{"authorization.k8s.io/decision":"allow"}}"#;

fn events(records: &[Record]) -> Vec<&AuditRow> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_v1_line_becomes_a_row() {
    let records = read_all(V1.as_bytes());
    let rows = events(&records);
    assert_eq!(rows.len(), 1);
    let r = rows[0];
    assert_eq!(r.line, 1);
    assert_eq!(
        (r.audit_id.as_str(), r.stage.as_str()),
        ("a-1", "ResponseComplete")
    );
    assert_eq!(r.verb.as_deref(), Some("delete"));
    assert_eq!(r.username.as_deref(), Some("alice"));
    assert_eq!(
        r.user_groups.as_deref(),
        Some(r#"["dev","system:authenticated"]"#)
    );
    assert_eq!(r.impersonated_user.as_deref(), Some("bob"));
    assert_eq!(r.source_ips.as_deref(), Some(r#"["10.0.0.1"]"#));
    assert_eq!(r.object_name.as_deref(), Some("web"));
    assert_eq!(r.object_resource_version.as_deref(), Some("42"));
    assert_eq!(r.response_code, Some(200));
    assert_eq!(
        r.request_received_timestamp.as_deref(),
        Some("2026-11-20T09:40:00.100000Z")
    );
    assert_eq!(
        r.stage_timestamp.as_deref(),
        Some("2026-11-20T09:40:00.123456Z")
    );
    assert_eq!(r.raw, V1);
}

#[test]
fn timestamps_are_normalized_to_utc_microseconds() {
    assert_eq!(
        normalize_timestamp("2017-09-11T19:55:05Z").as_deref(),
        Some("2017-09-11T19:55:05.000000Z")
    );
    assert_eq!(
        normalize_timestamp("2026-01-01T00:30:00.999999999-01:00").as_deref(),
        Some("2026-01-01T01:30:00.999999Z")
    );
    assert_eq!(normalize_timestamp("yesterday"), None);
}

#[test]
fn event_lists_and_aks_wrappers() {
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{V1},{}]}}"#,
        V1.replace("a-1", "a-2")
    );
    let records = read_all(list.as_bytes());
    assert_eq!(events(&records).len(), 2);
    assert!(events(&records).iter().all(|r| r.line == 1));

    let as_string = serde_json::json!({
        "category": "kube-audit",
        "properties": {"log": format!("{V1}\n"), "stream": "stdout"}
    });
    let as_object = serde_json::json!({
        "category": "kube-audit-admin",
        "properties": {"log": serde_json::from_str::<Value>(&V1.replace("a-1", "a-3")).unwrap()}
    });
    let other =
        serde_json::json!({"category": "kube-apiserver", "properties": {"log": "I1120 started"}});
    let text = format!("{as_string}\n{as_object}\n{other}\n");
    let records = read_all(text.as_bytes());
    let rows = events(&records);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].raw, V1, "the string in properties.log, exactly");
    assert_eq!((rows[1].audit_id.as_str(), rows[1].line), ("a-3", 2));
    assert!(
        matches!(&records[2], Record::Foreign { line: 3, what } if what.contains("kube-apiserver"))
    );
}

#[test]
fn damaged_lines_are_reported_with_their_number_and_the_rest_loads() {
    let cut = &V1[..V1.len() / 2];
    let text = format!(
        "{V1}\n\nnot json\n{cut}\n{}\n{{\"kind\": 0}}\n{}\n",
        V1.replace("a-1", "a-5"),
        V1.replace("\"stage\":\"ResponseComplete\",", "")
    );
    let records = read_all(text.as_bytes());
    let summary: Vec<String> = records
        .iter()
        .map(|r| match r {
            Record::Event(e) => format!("event {} line {}", e.audit_id, e.line),
            Record::Damaged { line, .. } => format!("damaged line {line}"),
            Record::Foreign { line, .. } => format!("foreign line {line}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "event a-1 line 1",
            "damaged line 3",
            "damaged line 4",
            "event a-5 line 5",
            "damaged line 6",
            "damaged line 7",
        ]
    );
    let Record::Damaged { reason, .. } = &records[5] else {
        unreachable!()
    };
    assert!(reason.contains("no stage"), "{reason}");
}

#[test]
fn a_pretty_printed_document_with_a_bom() {
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(V1).unwrap()).unwrap();
    let text = format!("\u{feff}{pretty}\n");
    let records = read_all(text.as_bytes());
    let rows = events(&records);
    assert_eq!(records.len(), 1);
    assert_eq!((rows[0].audit_id.as_str(), rows[0].line), ("a-1", 1));
    // A document cut short is damaged at its first line.
    let cut = &pretty[..pretty.len() - 2];
    let records = read_all(format!("{cut}\n").as_bytes());
    assert!(
        matches!(&records[..], [Record::Damaged { line: 1, .. }]),
        "{records:?}"
    );
}

#[test]
fn other_kubernetes_json_is_foreign() {
    let text = r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}"#;
    assert_eq!(
        read_all(text.as_bytes()),
        [Record::Foreign {
            line: 1,
            what: "admission.k8s.io/v1 AdmissionReview".into()
        }]
    );
}

/// Damage of every kind never panics and never loses a following good line:
/// every cut of a line, and bytes flipped at pseudo-random places.
#[test]
fn damaged_input_never_panics_and_the_next_line_loads() {
    let good = V1.replace("a-1", "after");
    for cut in 0..V1.len() {
        let text = format!("{}\n{good}\n", &V1[..cut]);
        let records = read_all(text.as_bytes());
        assert!(
            events(&records).iter().any(|r| r.audit_id == "after"),
            "cut at {cut}: {records:?}"
        );
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut bytes = V1.as_bytes().to_vec();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        bytes.push(b'\n');
        bytes.extend_from_slice(good.as_bytes());
        bytes.push(b'\n');
        let records = read_all(&bytes);
        assert!(
            events(&records).iter().any(|r| r.audit_id == "after"),
            "{records:?}"
        );
    }
}

/// A line longer than the document limit is skipped and reported without
/// being held in memory whole, and the next line loads.
#[test]
fn an_over_long_line_is_skipped_and_reported() {
    let mut data = vec![b'x'; MAX_DOCUMENT_BYTES + 10];
    data.push(b'\n');
    data.extend_from_slice(V1.as_bytes());
    let records = read_all(&data[..]);
    assert_eq!(events(&records).len(), 1);
    assert_eq!(events(&records)[0].line, 2);
    assert!(records.iter().any(|r| matches!(
        r,
        Record::Damaged { line: 1, reason } if reason.contains("longer than")
    )));
}

/// A long multi-line document whose records each start at column 0 is
/// parsed once, where its brackets balance, not again at every line.
#[test]
fn a_long_multi_line_document_is_parsed_once() {
    let n = 20_000;
    let mut doc = String::from("{\"records\": [\n");
    for i in 0..n {
        let line = V1.replace("a-1", &format!("a-{i}"));
        doc.push_str(&line);
        doc.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    doc.push_str("]}\n");
    let records = read_all(doc.as_bytes());
    assert_eq!(events(&records).len(), n);
}

/// A document nested 100,000 levels deep, one bracket a line (where every
/// line starts at column 0, so each could start a record): one damaged
/// record naming the nesting and the lines skipped, read in one pass, and
/// the record after it loads. Arrays and objects alike.
#[test]
fn a_document_nested_100_000_levels_deep_is_skipped_and_the_next_record_loads() {
    let levels = 100_000;
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let mut doc = String::new();
        for _ in 0..levels {
            doc.push_str(open);
            doc.push('\n');
        }
        doc.push_str("0\n");
        for _ in 0..levels {
            doc.push_str(close);
            doc.push('\n');
        }
        doc.push_str(V1);
        doc.push('\n');
        let records = read_all(doc.as_bytes());
        let last = 2 * levels + 1;
        assert_eq!(
            records.len(),
            2,
            "{open}: {:?}",
            &records[..records.len().min(3)]
        );
        let Record::Damaged { line: 1, reason } = &records[0] else {
            panic!("{:?}", records[0])
        };
        assert_eq!(
            reason,
            &format!("JSON nested deeper than {MAX_NESTING} levels: lines 1-{last} skipped, where its brackets balance")
        );
        assert_eq!(events(&records)[0].line, last as i64 + 1);
    }
}

/// The same depth on one line, and a deep document that never closes:
/// refused at once, and what follows a line on its own loads.
#[test]
fn deep_nesting_on_one_line_or_never_closed_is_damaged() {
    let one_line = format!("{}\n{V1}\n", "[".repeat(1_000_000));
    let records = read_all(one_line.as_bytes());
    assert!(
        matches!(&records[0], Record::Damaged { line: 1, reason } if reason.contains("recursion limit")),
        "{:?}",
        records[0]
    );
    assert_eq!(events(&records).len(), 1);

    let never_closed = "{\n".repeat(200_000);
    let records = read_all(never_closed.as_bytes());
    assert_eq!(
        records,
        [Record::Damaged {
            line: 1,
            reason: format!(
                "JSON nested deeper than {MAX_NESTING} levels: lines 1-200000 skipped, at the end of the file"
            )
        }]
    );
}

/// Nesting up to the limit is read: a deep request object is not damage.
#[test]
fn nesting_at_the_limit_is_read() {
    // The event is one level, its requestObject the next: 125 more fit.
    let inner = MAX_NESTING as usize - 2;
    let deep = format!("{}{}", "[".repeat(inner), "]".repeat(inner));
    let event = V1.replacen('{', &format!("{{\"requestObject\":{{\"x\":{deep}}},"), 1);
    let value = serde_json::from_str::<Value>(&event).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap() + "\n";
    let records = read_all(pretty.as_bytes());
    assert_eq!(events(&records).len(), 1, "{records:?}");
}

/// Bytes that are not UTF-8: on a line of their own, and inside a
/// pretty-printed document. Each is damaged at its line; the rest loads.
#[test]
fn invalid_utf8_is_damaged_at_its_line() {
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(V1).unwrap()).unwrap();
    let mut data = Vec::new();
    data.extend_from_slice(b"{\"auditID\":\"\xff\xfe\",\"stage\":\"x\"}\n");
    data.extend_from_slice(V1.replace("a-1", "a-2").as_bytes());
    data.push(b'\n');
    // A pretty-printed document with a broken line in the middle.
    let (head, tail) = pretty.split_at(pretty.find("\"verb\"").unwrap());
    data.extend_from_slice(head.as_bytes());
    data.extend_from_slice(b"\"v\xc3\x28");
    data.extend_from_slice(tail.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(V1.replace("a-1", "a-3").as_bytes());
    data.push(b'\n');
    let records = read_all(&data);
    let ids: Vec<&str> = events(&records)
        .iter()
        .map(|r| r.audit_id.as_str())
        .collect();
    assert_eq!(ids, ["a-2", "a-3"], "{records:?}");
    assert!(
        matches!(&records[0], Record::Damaged { line: 1, reason } if reason.starts_with("not UTF-8 text")),
        "{:?}",
        records[0]
    );
    assert!(records.iter().any(
        |r| matches!(r, Record::Damaged { line: 3, reason } if reason.starts_with("cut short"))
    ));
}
