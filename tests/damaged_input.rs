//! Damaged and hostile input, end to end through the CLI: the shipped sample
//! snapshot (made by a real etcd) with bytes broken in known places. Each
//! case must end in a clear message, the readable records loaded, the damage
//! counted, no panic, no hang — and the input unchanged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use evforensics::source::bolt::{BoltDb, PageKind};

const SAMPLE_EVENT_REVISIONS: i64 = 31;
const SAMPLE_TOMBSTONES: i64 = 7;

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/member-snap-db")
}

fn sample() -> Vec<u8> {
    std::fs::read(sample_path()).unwrap()
}

/// Page ids of the `key` bucket: its root (a branch page in the sample) and
/// its leaves, in key order.
fn key_bucket_pages(bytes: &Vec<u8>) -> (u64, Vec<u64>, u32) {
    let db = BoltDb::open(bytes).unwrap();
    let bucket = db.bucket(b"key").unwrap().unwrap();
    let root = bucket.root_page().expect("key bucket has its own pages");
    let page = db.read_page(root).unwrap();
    assert_eq!(
        page.kind(),
        PageKind::Branch,
        "sample's key bucket root is a branch"
    );
    let view = page.view();
    let leaves = (0..view.count())
        .map(|i| view.branch_element(i).unwrap().child)
        .collect();
    (root, leaves, db.page_size())
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            &self.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn events(&self) -> i64 {
        self.count("SELECT count(*) FROM events")
    }

    fn damaged(&self) -> i64 {
        self.count("SELECT count(*) FROM damaged_records")
    }
}

/// Writes `bytes` to a temp file and ingests it; checks the file is unchanged.
fn ingest(bytes: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("evidence.db");
    std::fs::write(&input, bytes).unwrap();
    let db = dir.path().join("out.sqlite");
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&input)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(std::fs::read(&input).unwrap(), bytes, "input modified");
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "out.sqlite")
        .collect();
    assert_eq!(
        entries,
        vec!["evidence.db"],
        "nothing written beside the input"
    );
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        db,
        _dir: dir,
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// `100000` as `100,000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn intact_sample_loads_everything() {
    let run = ingest(&sample());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.events(), SAMPLE_EVENT_REVISIONS);
    assert_eq!(
        run.count("SELECT count(*) FROM deletions"),
        SAMPLE_TOMBSTONES
    );
    assert_eq!(run.damaged(), 0);
}

/// A cut file loses the pages past the cut — often the tree's upper pages,
/// which bbolt writes last. The leaves before the cut are still found by
/// the scan of unreachable pages and load.
#[test]
fn truncated_file_loads_what_remains() {
    let bytes = sample();
    let (_, leaves, page_size) = key_bucket_pages(&bytes);
    let mut sorted = leaves.clone();
    sorted.sort();
    let cut_page = sorted[sorted.len() / 2];
    let cut = (cut_page * u64::from(page_size)) as usize;
    let run = ingest(&bytes[..cut]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    // It says so first, not "plain bbolt copy" (issue 14).
    let hwm = BoltDb::open(&bytes).unwrap().meta().hwm;
    let truncated = format!(
        "TRUNCATED: the file is {} bytes, the meta page's high-water mark needs {}",
        grouped(cut as u64),
        grouped(hwm * u64::from(page_size))
    );
    let summary: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(summary[1].trim(), truncated, "{}", run.stdout);
    assert!(!run.stdout.contains("plain bbolt copy"), "{}", run.stdout);
    assert_eq!(
        run.count(&format!(
            "SELECT count(*) FROM damaged_records WHERE reason = '{}'",
            truncated.replace('\'', "''")
        )),
        1
    );
    let info = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("info")
        .arg(run._dir.path().join("evidence.db"))
        .output()
        .unwrap();
    let info_text = String::from_utf8_lossy(&info.stdout);
    assert_eq!(info.status.code(), Some(3));
    assert_eq!(
        info_text.lines().next(),
        Some(truncated.as_str()),
        "{info_text}"
    );
    assert!(!info_text.contains("plain bbolt copy"), "{info_text}");
    assert!(
        run.events() > 0 && run.events() < SAMPLE_EVENT_REVISIONS,
        "{}",
        run.events()
    );
    assert!(run.damaged() > 0);
    assert!(
        run.stdout.contains("damaged records skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.count("SELECT count(*) FROM damaged_records WHERE reason LIKE '%end of file%'") > 0,
        "{}",
        run.stdout
    );
    assert_eq!(
        run.count("SELECT count(*) FROM events WHERE recovered_from = 'free-page'"),
        run.events(),
        "the cut took the tree's root: every record was found by the page scan"
    );
}

/// A file cut before any Event page holds nothing to load: still a clear
/// report, not a panic.
#[test]
fn truncated_to_the_meta_pages_reports_the_damage() {
    let bytes = sample();
    let page_size = key_bucket_pages(&bytes).2 as usize;
    let run = ingest(&bytes[..2 * page_size]);
    assert!(
        run.code == 1 || run.code == 3,
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("end of file") || run.stderr.contains("end of file"),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn absurd_key_length_in_a_leaf_is_skipped() {
    let mut bytes = sample();
    let (_, leaves, page_size) = key_bucket_pages(&bytes);
    let leaf = (leaves[0] * u64::from(page_size)) as usize;
    // Element 0 of the first leaf: flags u32, pos u32, ksize u32, vsize u32.
    put_u32(&mut bytes, leaf + 16 + 8, 0xFFFF_FFF0);
    let run = ingest(&bytes);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.damaged() >= 1);
    assert!(run.events() > 0, "the other leaves still load");
    assert!(run.events() <= SAMPLE_EVENT_REVISIONS);
}

#[test]
fn random_bytes_over_a_leaf_page_are_skipped() {
    let mut bytes = sample();
    let (_, leaves, page_size) = key_bucket_pages(&bytes);
    let leaf = leaves[leaves.len() - 1];
    let start = (leaf * u64::from(page_size)) as usize;
    let mut x: u32 = 0x1234_5678;
    for b in &mut bytes[start..start + page_size as usize] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let run = ingest(&bytes);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.damaged() >= 1);
    assert!(run.events() > 0 && run.events() < SAMPLE_EVENT_REVISIONS);
    assert!(
        run.count(&format!(
            "SELECT count(*) FROM damaged_records WHERE page = {leaf}"
        )) >= 1,
        "the damage names the page: {}",
        run.stdout
    );
}

#[test]
fn branch_pointer_past_the_high_water_mark() {
    let mut bytes = sample();
    let (root, leaves, page_size) = key_bucket_pages(&bytes);
    let branch = (root * u64::from(page_size)) as usize;
    // Branch element 1: pos u32, ksize u32, pgid u64.
    put_u64(&mut bytes, branch + 16 + 16 + 8, 1 << 40);
    let run = ingest(&bytes);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    // The leaf the pointer lost is found again among the unreachable pages.
    assert_eq!(run.events(), SAMPLE_EVENT_REVISIONS);
    assert!(run.count("SELECT count(*) FROM events WHERE recovered_from = 'free-page'") > 0);
    assert!(
        run.count("SELECT count(*) FROM damaged_records WHERE reason LIKE '%high-water mark%'")
            >= 1,
        "{}",
        run.stdout
    );
    assert!(leaves.len() > 2);
}

#[test]
fn branch_pointing_to_itself_is_a_cycle_not_a_hang() {
    let mut bytes = sample();
    let (root, _, page_size) = key_bucket_pages(&bytes);
    let branch = (root * u64::from(page_size)) as usize;
    put_u64(&mut bytes, branch + 16 + 8, root);
    let run = ingest(&bytes);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.count("SELECT count(*) FROM damaged_records WHERE reason LIKE '%cycle%' OR reason LIKE '%visited%' OR reason LIKE '%twice%'") >= 1,
        "{}",
        run.stdout
    );
    assert_eq!(
        run.events(),
        SAMPLE_EVENT_REVISIONS,
        "the cut-off leaf is recovered"
    );
}

#[test]
fn a_corrupt_record_is_skipped_and_located() {
    let mut bytes = sample();
    let db_bytes = bytes.clone();
    let db = BoltDb::open(&db_bytes).unwrap();
    let (_, leaves, _) = key_bucket_pages(&db_bytes);
    // The value of the first entry of the second leaf: overwrite it with
    // bytes that are no mvccpb.KeyValue.
    let page = db.read_page(leaves[1]).unwrap();
    let elem = page.view().leaf_element(0).unwrap();
    let at = page.offset() as usize + elem.value_at();
    for b in &mut bytes[at..at + 4] {
        *b = 0xFF;
    }
    let run = ingest(&bytes);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    // A record-level problem is located by its revision.
    assert_eq!(
        run.count("SELECT count(*) FROM damaged_records WHERE revision IS NOT NULL"),
        1,
        "{}",
        run.stdout
    );
    assert!(run.events() >= SAMPLE_EVENT_REVISIONS - 1);
}

#[test]
fn zeroed_meta_page_falls_back_to_the_other() {
    let mut bytes = sample();
    let page_size = key_bucket_pages(&bytes).2 as usize;
    let db = BoltDb::open(&bytes).unwrap();
    let used = db.meta().page_id as usize;
    for b in &mut bytes[used * page_size..(used + 1) * page_size] {
        *b = 0;
    }
    let run = ingest(&bytes);
    assert!(
        run.code == 0 || run.code == 3,
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("meta page {used} damaged")),
        "{}",
        run.stdout
    );
    // Said first.
    assert!(
        run.stdout.lines().nth(1).is_some_and(|l| l
            .trim()
            .starts_with(&format!("DAMAGED: meta page {used} damaged"))),
        "{}",
        run.stdout
    );
    assert!(run.events() > 0);
    let note: String = {
        let conn = rusqlite::Connection::open(&run.db).unwrap();
        conn.query_row("SELECT bolt_meta_note FROM sources", [], |r| r.get(0))
            .unwrap()
    };
    assert!(
        note.contains(&format!("using meta page {}", 1 - used)),
        "{note}"
    );
}

#[test]
fn both_meta_pages_bad_is_a_clear_failure_that_keeps_the_earlier_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("case.sqlite");
    let ok = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(sample_path())
        .output()
        .unwrap();
    assert!(ok.status.success());

    let mut bytes = sample();
    let page_size = key_bucket_pages(&bytes).2 as usize;
    // Break the checksum of both metas (a flipped byte in the root pointer).
    bytes[32] ^= 0x55;
    bytes[page_size + 32] ^= 0x55;
    let bad = dir.path().join("broken.db");
    std::fs::write(&bad, &bytes).unwrap();
    let out = Command::cargo_bin("evforensics")
        .unwrap()
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&bad)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.db") && stderr.contains("meta"),
        "{stderr}"
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, SAMPLE_EVENT_REVISIONS, "the earlier load is intact");
    let sources: i64 = conn
        .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sources, 1);
}
