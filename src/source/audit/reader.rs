//! Reading an audit log: lines, multi-line documents and wrappers →
//! [`Record`]s, streaming, with every line and document bounded.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use serde_json::{Map, Value};

use super::row::{audit_row, kind_of};
use crate::store::AuditRow;

/// The largest record spread over several lines that is put together
/// (a pretty-printed event with big request and response objects).
pub(super) const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// How deep wrappers may nest (records → record → properties.log → list).
const MAX_DEPTH: usize = 8;

/// How deep JSON may nest: serde_json refuses the 128th level anyway, and a
/// record spread over lines is refused here, before it is put together and
/// parsed, so that such a document is skipped in one pass.
pub(super) const MAX_NESTING: i64 = 127;

/// One thing read from an audit log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// An audit event.
    Event(Box<AuditRow>),
    /// A line or record that could not be read.
    Damaged { line: u64, reason: String },
    /// JSON of another kind, named (e.g. `admission.k8s.io/v1 AdmissionReview`).
    Foreign { line: u64, what: String },
}

/// Reads records from an audit log, streaming line by line.
pub struct AuditReader<R> {
    reader: R,
    /// Lines read so far from `reader`.
    line_no: u64,
    /// Lines taken back after a failed attempt to join a multi-line record.
    pushback: VecDeque<(u64, Vec<u8>)>,
    out: VecDeque<Record>,
    done: bool,
}

impl<R: BufRead> AuditReader<R> {
    pub fn new(reader: R) -> Self {
        AuditReader {
            reader,
            line_no: 0,
            pushback: VecDeque::new(),
            out: VecDeque::new(),
            done: false,
        }
    }

    fn next_line(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        if let Some(l) = self.pushback.pop_front() {
            return Ok(Some(l));
        }
        let mut buf = Vec::new();
        let (read, complete) = read_line_bounded(&mut self.reader, &mut buf, MAX_DOCUMENT_BYTES)?;
        if read == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if !complete {
            // The rest of an over-long line was skipped, not stored.
            let n = self.line_no;
            self.damaged(
                n,
                format!("line longer than {MAX_DOCUMENT_BYTES} bytes ({read} bytes): skipped"),
            );
            buf.clear();
        }
        if self.line_no == 1 {
            if let Some(rest) = buf.strip_prefix(b"\xEF\xBB\xBF") {
                buf = rest.to_vec();
            }
        }
        Ok(Some((self.line_no, buf)))
    }

    /// Reads the next record (a line, or lines joined into one document)
    /// and queues what it holds.
    fn fill(&mut self) -> io::Result<()> {
        while self.out.is_empty() {
            let Some((n, bytes)) = self.next_line()? else {
                self.done = true;
                return Ok(());
            };
            let text = match std::str::from_utf8(&bytes) {
                Ok(t) => t.trim(),
                Err(e) => {
                    self.damaged(n, format!("not UTF-8 text: {e}"));
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(text) {
                Ok(v) => {
                    let text = text.to_string();
                    self.extract(n, v, Some(text), 0)
                }
                Err(e) if e.is_eof() => self.join_lines(n, text.to_string())?,
                Err(e) => self.damaged(n, format!("not JSON: {e}")),
            }
        }
        Ok(())
    }

    /// A record incomplete at the end of line `n`: a pretty-printed
    /// document, or a line cut short. Lines are added while the text stays an
    /// incomplete JSON value; a new line starting at column 0 (where a
    /// pretty-printed document's closing bracket is, and where every line of
    /// a JSON-lines file starts) is the moment to try. If it does not come
    /// together, line `n` is damaged and the lines after it that start at
    /// column 0 are read again on their own.
    fn join_lines(&mut self, n: u64, first: String) -> io::Result<()> {
        // Parsing is tried only where the brackets balance, so that a long
        // document is parsed once, not once per line.
        let mut depth = JsonDepth::default();
        depth.feed(first.as_bytes());
        let mut doc = first;
        let mut taken: Vec<(u64, Vec<u8>)> = Vec::new();
        let failure = loop {
            if depth.too_deep() {
                // Nothing of it is read again: lines taken back would each
                // start the same deep document over.
                drop(taken);
                return self.skip_deep_document(n, depth, doc.len());
            }
            if depth.broken_at_line_end() {
                break "cut short: not complete JSON on this line".to_string();
            }
            let Some((m, bytes)) = self.next_line()? else {
                break "cut short: the file ends before this JSON value is complete".to_string();
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                taken.push((m, bytes));
                break "cut short: not complete JSON on this line".to_string();
            };
            doc.push('\n');
            doc.push_str(text.trim_end());
            depth.feed(text.as_bytes());
            let at_column_0 = !text.starts_with([' ', '\t']) && !text.trim().is_empty();
            taken.push((m, bytes));
            if doc.len() > MAX_DOCUMENT_BYTES {
                break format!(
                    "cut short: no complete JSON value within {MAX_DOCUMENT_BYTES} bytes"
                );
            }
            if !at_column_0 || depth.open() {
                continue;
            }
            match serde_json::from_str::<Value>(&doc) {
                Ok(v) => {
                    self.extract(n, v, Some(doc), 0);
                    return Ok(());
                }
                Err(e) if e.is_eof() => continue,
                Err(_) => break "cut short: not complete JSON on this line".to_string(),
            }
        };
        self.damaged(n, failure);
        // Indented lines belong to the broken record; from the first line
        // that starts at column 0 on, lines are read again on their own.
        let starts_record = |b: &[u8]| !b.is_empty() && !b[0].is_ascii_whitespace();
        if let Some(first) = taken.iter().position(|(_, b)| starts_record(b)) {
            for l in taken.into_iter().skip(first).rev() {
                self.pushback.push_front(l);
            }
        }
        Ok(())
    }

    /// Line `n` starts a document nested deeper than [`MAX_NESTING`]: its
    /// lines are consumed, not kept, until its brackets balance (or the file
    /// ends, or [`MAX_DOCUMENT_BYTES`] were skipped), and it is one damaged
    /// record.
    fn skip_deep_document(&mut self, n: u64, mut depth: JsonDepth, read: usize) -> io::Result<()> {
        let mut skipped = read;
        let mut last = n;
        let end = loop {
            if !depth.open() || depth.broken_at_line_end() {
                break "where its brackets balance".to_string();
            }
            if skipped > MAX_DOCUMENT_BYTES {
                break format!("after {MAX_DOCUMENT_BYTES} bytes");
            }
            let Some((m, bytes)) = self.next_line()? else {
                break "at the end of the file".to_string();
            };
            last = m;
            skipped = skipped.saturating_add(bytes.len());
            depth.feed(&bytes);
        };
        self.damaged(
            n,
            format!(
                "JSON nested deeper than {MAX_NESTING} levels: lines {n}-{last} skipped, {end}"
            ),
        );
        Ok(())
    }

    fn damaged(&mut self, line: u64, reason: String) {
        self.out.push_back(Record::Damaged { line, reason });
    }

    /// What a JSON value holds. `raw` is its exact text when it is a whole
    /// line, document or string; otherwise the value is serialized.
    fn extract(&mut self, line: u64, v: Value, raw: Option<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return self.damaged(line, "wrappers nested too deeply".into());
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    self.extract(line, item, None, depth + 1);
                }
            }
            Value::Object(o) => self.extract_object(line, o, raw, depth),
            other => self.damaged(
                line,
                format!("not a Kubernetes audit event: JSON {}", kind_of(&other)),
            ),
        }
    }

    fn extract_object(
        &mut self,
        line: u64,
        o: Map<String, Value>,
        raw: Option<String>,
        depth: usize,
    ) {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if o.contains_key("auditID") {
            let raw = raw.unwrap_or_else(|| Value::Object(o.clone()).to_string());
            match audit_row(line, &o, raw) {
                Ok(row) => self.out.push_back(Record::Event(Box::new(row))),
                Err(reason) => self.damaged(line, reason),
            }
            return;
        }
        if kind == "EventList"
            || (api_version.starts_with("audit.k8s.io/") && o.contains_key("items"))
        {
            let mut o = o;
            match o.remove("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        self.extract(line, item, None, depth + 1);
                    }
                }
                // An empty batch.
                Some(Value::Null) | None => {}
                Some(_) => self.damaged(line, "EventList: items is not a list".into()),
            }
            return;
        }
        if matches!(o.get("records"), Some(Value::Array(_))) {
            let mut o = o;
            if let Some(Value::Array(records)) = o.remove("records") {
                for r in records {
                    self.extract(line, r, None, depth + 1);
                }
            }
            return;
        }
        if let Some(log) = o.get("properties").and_then(|p| p.get("log")) {
            let category = o.get("category").and_then(Value::as_str).unwrap_or("");
            if !category.is_empty() && !category.starts_with("kube-audit") {
                return self.out.push_back(Record::Foreign {
                    line,
                    what: format!("Azure diagnostic record of category {category}"),
                });
            }
            match log {
                Value::String(s) => match serde_json::from_str::<Value>(s.trim()) {
                    Ok(inner) => {
                        let text = s.trim().to_string();
                        self.extract(line, inner, Some(text), depth + 1)
                    }
                    Err(e) => self.damaged(line, format!("properties.log is not JSON: {e}")),
                },
                Value::Object(_) => self.extract(line, log.clone(), None, depth + 1),
                other => self.damaged(
                    line,
                    format!(
                        "properties.log is JSON {}, expected an audit event",
                        kind_of(other)
                    ),
                ),
            }
            return;
        }
        if !kind.is_empty() && !api_version.is_empty() {
            return self.out.push_back(Record::Foreign {
                line,
                what: format!("{api_version} {kind}"),
            });
        }
        self.damaged(
            line,
            "not a Kubernetes audit event: a JSON object without auditID".into(),
        )
    }
}

impl<R: BufRead> Iterator for AuditReader<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.out.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.out.pop_front().map(Ok)
    }
}

/// Reads all records of a text (tests and small inputs).
pub fn read_all(text: &[u8]) -> Vec<Record> {
    AuditReader::new(text)
        .collect::<io::Result<Vec<_>>>()
        .expect("reading from memory does not fail")
}

/// Reads one line (up to and including `\n`) into `buf`, keeping at most
/// `limit` bytes of it; the rest of an over-long line is consumed and
/// dropped. Returns the bytes the line had and whether all were kept.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<(usize, bool)> {
    let mut total = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total, total <= limit));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = limit.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        total = total.saturating_add(used);
        reader.consume(used);
        if done {
            return Ok((total, total <= limit));
        }
    }
}

/// Bracket depth of JSON text fed piece by piece, strings and escapes
/// taken into account.
#[derive(Default)]
struct JsonDepth {
    depth: i64,
    /// The deepest `depth` was.
    deepest: i64,
    in_string: bool,
    escaped: bool,
}

impl JsonDepth {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.deepest = self.deepest.max(self.depth);
                }
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }

    /// Whether the text nests deeper than [`MAX_NESTING`] somewhere.
    fn too_deep(&self) -> bool {
        self.deepest > MAX_NESTING
    }

    /// Whether a value is still open.
    fn open(&self) -> bool {
        self.in_string || self.depth > 0
    }

    /// At the end of a line: JSON strings hold no raw line break, so a
    /// string still open there means the line was cut; more closing than
    /// opening brackets means it is not one value.
    fn broken_at_line_end(&self) -> bool {
        self.in_string || self.depth < 0
    }
}
