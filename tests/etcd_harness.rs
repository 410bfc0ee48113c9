//! Smoke tests of the test harness itself: a real etcd starts and stops,
//! the standard scenario's ledger agrees with etcd (reads at head, at the
//! compaction revision, per revision) and with the bytes of a snapshot
//! (read with a minimal, independent bbolt walker below).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::etcd::server::EtcdServer;
use common::scenario::bulk::{write_bulk, BulkOptions};
use common::scenario::ledger::{DeleteCause, ExpectedPut, KeyBucketEntry, Ledger, ValueKind};
use common::scenario::objects::k8s_envelope;
use common::scenario::standard::write_standard_scenario;
use common::scenario::writer::COMPACT_REV_KEY;
use etcd_client::GetOptions;
use evforensics::proto::etcd::{KeyValue, Lease};
use prost::Message as _;
use sha2::{Digest, Sha256};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------
// A minimal bbolt reader, independent of evforensics' own, used only to
// check the ledger against real etcd files.
// ---------------------------------------------------------------------------

struct Bolt<'a> {
    data: &'a [u8],
    page_size: usize,
    root: u64,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn fnv64a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<'a> Bolt<'a> {
    fn open(data: &'a [u8]) -> Bolt<'a> {
        let page_size = u32_at(data, 24) as usize;
        assert!(
            page_size.is_power_of_two() && page_size >= 512,
            "bad page size"
        );
        let mut best: Option<(u64, u64)> = None; // (txid, root)
        for m in 0..2 {
            let off = m * page_size;
            let magic = u32_at(data, off + 16);
            let ok =
                magic == 0xED0C_DAED && fnv64a(&data[off + 16..off + 72]) == u64_at(data, off + 72);
            if ok {
                let txid = u64_at(data, off + 64);
                let root = u64_at(data, off + 32);
                if best.is_none_or(|(t, _)| txid > t) {
                    best = Some((txid, root));
                }
            }
        }
        let (_, root) = best.expect("no valid bbolt meta page");
        Bolt {
            data,
            page_size,
            root,
        }
    }

    fn page(&self, id: u64) -> &'a [u8] {
        &self.data[id as usize * self.page_size..]
    }

    /// All (key, value, is_bucket) of the tree whose root page is `page`.
    fn walk(&self, page: &'a [u8], out: &mut Vec<(&'a [u8], &'a [u8], bool)>) {
        let flags = u16_at(page, 8);
        let count = u16_at(page, 10) as usize;
        for i in 0..count {
            let e = 16 + i * 16;
            if flags & 0x01 != 0 {
                self.walk(self.page(u64_at(page, e + 8)), out);
            } else {
                assert!(flags & 0x02 != 0, "unexpected page flags {flags:#x}");
                let (fl, pos, ks, vs) = (
                    u32_at(page, e),
                    u32_at(page, e + 4) as usize,
                    u32_at(page, e + 8) as usize,
                    u32_at(page, e + 12) as usize,
                );
                let k = &page[e + pos..e + pos + ks];
                let v = &page[e + pos + ks..e + pos + ks + vs];
                out.push((k, v, fl & 0x01 != 0));
            }
        }
    }

    fn bucket(&self, name: &str) -> Vec<(&'a [u8], &'a [u8])> {
        let mut top = Vec::new();
        self.walk(self.page(self.root), &mut top);
        let (_, v, _) = top
            .into_iter()
            .find(|(k, _, b)| *b && *k == name.as_bytes())
            .unwrap_or_else(|| panic!("no bucket {name}"));
        let root = u64_at(v, 0);
        let mut out = Vec::new();
        if root == 0 {
            self.walk(&v[16..], &mut out);
        } else {
            self.walk(self.page(root), &mut out);
        }
        out.into_iter().map(|(k, v, _)| (k, v)).collect()
    }
}

/// The `key` bucket decoded into the ledger's terms.
fn key_bucket(db: &[u8]) -> Vec<KeyBucketEntry> {
    let bolt = Bolt::open(db);
    let mut out = Vec::new();
    for (k, v) in bolt.bucket("key") {
        assert!(
            k.len() == 17 || (k.len() == 18 && k[17] == b't'),
            "odd key {k:?}"
        );
        assert_eq!(k[8], b'_');
        let kv = KeyValue::decode(v).expect("mvccpb.KeyValue");
        out.push(KeyBucketEntry {
            revision: i64::from_be_bytes(k[0..8].try_into().unwrap()),
            sub: i64::from_be_bytes(k[9..17].try_into().unwrap()),
            tombstone: k.len() == 18,
            key: kv.key,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            value: kv.value,
            lease: kv.lease,
        });
    }
    out
}

fn lease_bucket(db: &[u8]) -> Vec<i64> {
    let mut v: Vec<i64> = Bolt::open(db)
        .bucket("lease")
        .into_iter()
        .map(|(_, v)| Lease::decode(v).expect("leasepb.Lease").id)
        .collect();
    v.sort();
    v
}

fn meta_value(db: &[u8], name: &str) -> Option<Vec<u8>> {
    Bolt::open(db)
        .bucket("meta")
        .into_iter()
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| v.to_vec())
}

fn assert_key_bucket(actual: &[KeyBucketEntry], ledger: &Ledger, what: &str) {
    let expected = ledger.expected_key_bucket();
    let show = |e: &KeyBucketEntry| {
        format!(
            "{}/{}{} {}",
            e.revision,
            e.sub,
            if e.tombstone { "t" } else { "" },
            String::from_utf8_lossy(&e.key)
        )
    };
    let a: Vec<String> = actual.iter().map(show).collect();
    let e: Vec<String> = expected.iter().map(show).collect();
    assert_eq!(a, e, "{what}: key bucket revisions differ from the ledger");
    assert_eq!(
        actual,
        expected.as_slice(),
        "{what}: key bucket values differ"
    );
}

fn check_snapshot_file(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("reading snapshot");
    assert_eq!(
        bytes.len() % 512,
        32,
        "snapshot = bbolt pages + 32-byte SHA-256 trailer"
    );
    let (db, trailer) = bytes.split_at(bytes.len() - 32);
    assert_eq!(
        Sha256::digest(db).as_slice(),
        trailer,
        "snapshot trailer is the SHA-256 of the db"
    );
    db.to_vec()
}

// ---------------------------------------------------------------------------

#[test]
fn standard_scenario_ledger_matches_etcd_and_snapshot() {
    let server = EtcdServer::start();
    let rt = rt();
    let ledger = rt.block_on(async {
        let client = server.client().await;
        let ledger = write_standard_scenario(&client).await;
        check_against_etcd(client, &ledger).await;
        ledger
    });
    let c = ledger.compact_revision;
    let s = ledger.summary();
    eprintln!("{s:#?}");

    // The scenario exercises what it promises to.
    assert!(
        ledger.etcd_version.starts_with("3."),
        "{}",
        ledger.etcd_version
    );
    assert!(c > 0 && c < ledger.head_revision);
    assert!(s.compacted_puts > 0 && s.surviving_puts > 0);
    assert!(s.expired_by_lease >= 2 && s.explicit_deletes >= 2);
    assert!(
        ledger.deletes.iter().any(|d| d.revision == c),
        "a tombstone at exactly C"
    );
    assert!(ledger.deletes.iter().any(|d| d.revision < c));
    assert!(ledger.surviving_tombstones().len() > s.expired_by_lease);
    let subs: Vec<i64> = {
        let rev = ledger
            .puts
            .iter()
            .find(|p| p.sub == 2)
            .expect("multi-key txn")
            .revision;
        ledger
            .puts
            .iter()
            .filter(|p| p.revision == rev)
            .map(|p| p.sub)
            .collect()
    };
    assert_eq!(subs, [0, 1, 2]);
    for kind in [
        ValueKind::ProtobufEvent,
        ValueKind::JsonEvent,
        ValueKind::EncryptedEvent,
        ValueKind::GarbageEvent,
        ValueKind::Pod,
        ValueKind::Namespace,
        ValueKind::CompactRevKey,
    ] {
        assert!(
            ledger.puts.iter().any(|p| p.kind == kind),
            "no {kind:?} put"
        );
    }
    // Protobuf values are exactly `k8s\0` + runtime.Unknown{v1 Event}.
    for p in ledger
        .puts
        .iter()
        .filter(|p| p.kind == ValueKind::ProtobufEvent)
    {
        let ev = p.event.as_ref().expect("event");
        assert_eq!(p.value, k8s_envelope("v1", "Event", ev.encode_to_vec()));
    }
    // Keys with two generations, one whose first tombstone is compacted away.
    let gens = |key: &str| {
        ledger
            .puts
            .iter()
            .filter(|p| p.key == key && p.version == 1)
            .count()
    };
    let two_gen: Vec<&str> = ledger
        .deletes
        .iter()
        .filter(|d| d.cause == DeleteCause::Explicit && gens(&d.key) == 2)
        .map(|d| d.key.as_str())
        .collect();
    assert!(two_gen.len() >= 2, "{two_gen:?}");
    // Revoked-lease tombstones share one revision, subs in key order.
    let revoked: Vec<_> = ledger
        .deletes
        .iter()
        .filter(|d| matches!(d.cause, DeleteCause::LeaseRevoked { .. }))
        .collect();
    assert!(revoked.iter().all(|d| d.revision == revoked[0].revision));
    assert!(revoked
        .windows(2)
        .all(|w| w[0].key < w[1].key && w[1].sub == w[0].sub + 1));
    // Surviving puts: the tombstone ending their generation always survives.
    for (p, f) in ledger.puts.iter().zip(ledger.fates()) {
        if let (true, Some(d)) = (f.survives, f.deleted_revision) {
            assert!(
                d > c,
                "{} survives but its tombstone {d} is compacted",
                p.key
            );
        }
    }

    // Snapshot: trailer, and the key bucket exactly as the ledger says.
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snapshot.db");
    server.snapshot(&snap);
    let db = check_snapshot_file(&snap);
    assert_key_bucket(&key_bucket(&db), &ledger, "snapshot");
    assert_eq!(lease_bucket(&db), {
        let mut l = ledger.live_leases();
        l.sort();
        l
    });
    let mut finished = c.to_be_bytes().to_vec();
    finished.push(b'_');
    finished.extend(0i64.to_be_bytes());
    assert_eq!(meta_value(&db, "finishedCompactRev"), Some(finished));

    // The ledger survives a JSON round trip (fixtures ship it).
    let lpath = tmp.path().join("ledger.json");
    ledger.save(&lpath);
    assert_eq!(Ledger::load(&lpath), ledger);

    // A clean stop leaves member/snap/db with the same content.
    let stopped = server.stop();
    assert!(stopped.exit_status().success() || stopped.exit_status().code().is_none());
    let db = std::fs::read(stopped.db_path()).expect("member/snap/db");
    assert_eq!(db.len() % 4096, 0, "a data dir db has no trailer");
    assert_key_bucket(&key_bucket(&db), &ledger, "member/snap/db");
}

async fn check_against_etcd(mut client: etcd_client::Client, ledger: &Ledger) {
    let c = ledger.compact_revision;
    let all = || GetOptions::new().with_all_keys();
    let as_map =
        |kvs: &[etcd_client::KeyValue]| -> BTreeMap<String, (Vec<u8>, i64, i64, i64, i64)> {
            kvs.iter()
                .map(|kv| {
                    (
                        kv.key_str().unwrap().to_string(),
                        (
                            kv.value().to_vec(),
                            kv.create_revision(),
                            kv.mod_revision(),
                            kv.version(),
                            kv.lease(),
                        ),
                    )
                })
                .collect()
        };
    let from_ledger = |v: Vec<&ExpectedPut>| -> BTreeMap<String, (Vec<u8>, i64, i64, i64, i64)> {
        v.into_iter()
            .map(|p| {
                (
                    p.key.clone(),
                    (
                        p.value.clone(),
                        p.create_revision,
                        p.revision,
                        p.version,
                        p.lease,
                    ),
                )
            })
            .collect()
    };

    // Head: etcd's live keys are the ledger's live puts.
    let head = client.get("", Some(all())).await.unwrap();
    assert_eq!(head.header().unwrap().revision(), ledger.head_revision);
    assert_eq!(as_map(head.kvs()), from_ledger(ledger.live_puts()));

    // At C the store still answers, with the values the compaction kept.
    let at_c = client.get("", Some(all().with_revision(c))).await.unwrap();
    assert_eq!(as_map(at_c.kvs()), from_ledger(ledger.live_at(c)));
    // Below C it refuses.
    let err = client
        .get("", Some(all().with_revision(c - 1)))
        .await
        .expect_err("read below the compaction revision");
    assert!(err.to_string().contains("compacted"), "{err}");

    // Every revision after C reads back as the ledger recorded it.
    for p in ledger.puts.iter().filter(|p| p.revision > c) {
        let r = client
            .get(
                p.key.as_str(),
                Some(GetOptions::new().with_revision(p.revision)),
            )
            .await
            .unwrap();
        let kv = &r.kvs()[0];
        assert_eq!(
            (
                kv.value(),
                kv.mod_revision(),
                kv.create_revision(),
                kv.version(),
                kv.lease()
            ),
            (
                p.value.as_slice(),
                p.revision,
                p.create_revision,
                p.version,
                p.lease
            ),
            "{} at {}",
            p.key,
            p.revision
        );
    }
    for d in ledger.deletes.iter().filter(|d| d.revision > c) {
        let gone = client
            .get(
                d.key.as_str(),
                Some(GetOptions::new().with_revision(d.revision)),
            )
            .await
            .unwrap();
        assert!(
            gone.kvs().is_empty(),
            "{} present at its tombstone {}",
            d.key,
            d.revision
        );
        // d.revision - 1 >= c: still readable.
        let before = client
            .get(
                d.key.as_str(),
                Some(GetOptions::new().with_revision(d.revision - 1)),
            )
            .await
            .unwrap();
        assert_eq!(
            before.kvs()[0].mod_revision(),
            d.prev_mod_revision,
            "{}",
            d.key
        );
    }

    // Leases: the revoked one is gone, the others are granted.
    let mut live: Vec<i64> = client
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    live.sort();
    let mut want = ledger.live_leases();
    want.sort();
    assert_eq!(live, want);

    // compact_rev_key holds the compaction revision, like the apiserver's.
    let k = client.get(COMPACT_REV_KEY, None).await.unwrap();
    assert_eq!(k.kvs()[0].value_str().unwrap(), c.to_string());
}

#[test]
fn bulk_writer_ledger_matches_snapshot() {
    let server = EtcdServer::start();
    let rt = rt();
    let n = 3000;
    let summary = rt.block_on(async {
        let client = server.client().await;
        let opts = BulkOptions {
            concurrency: 64,
            record_ledger: true,
            revisions_per_lease: 1000,
            ..Default::default()
        };
        write_bulk(&client, n, &opts).await
    });
    assert_eq!(summary.revisions, n);
    assert_eq!(summary.creates + summary.updates, n);
    assert!(summary.updates > n / 10, "{summary:?}");
    assert_eq!(summary.leases.len(), 3);
    let avg = summary.value_bytes / n;
    assert!(
        (550..=900).contains(&avg),
        "average Event value {avg} bytes"
    );
    let ledger = summary.ledger.expect("ledger");
    assert_eq!(ledger.puts.len() as u64, n);
    assert_eq!(
        ledger.puts.iter().map(|p| p.revision).collect::<Vec<_>>(),
        (summary.first_revision..=summary.head_revision).collect::<Vec<_>>()
    );
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("bulk.db");
    server.snapshot(&snap);
    let db = check_snapshot_file(&snap);
    assert_key_bucket(&key_bucket(&db), &ledger, "bulk snapshot");
}

#[test]
fn servers_are_isolated_and_killed_on_drop() {
    let a = EtcdServer::start();
    let b = EtcdServer::start();
    assert_ne!(a.endpoint(), b.endpoint());
    assert_ne!(a.data_dir(), b.data_dir());
    let out = a.etcdctl(&["put", "/only/in/a", "x"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    let out = b.etcdctl(&["get", "--prefix", "/only/"]);
    assert!(out.stdout.is_empty(), "b sees a's key");
    let (pid, dir) = (a.pid(), a.data_dir().to_path_buf());
    drop(a);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "etcd {pid} still running"
    );
    assert!(!dir.exists(), "data dir not removed");
    // A panicking test still kills its etcd (Drop runs while unwinding).
    let pid_b = b.pid();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _b = b;
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(
        !Path::new(&format!("/proc/{pid_b}")).exists(),
        "etcd {pid_b} survived a panic"
    );
}

#[test]
fn shipped_sample_fixture_matches_its_ledger() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let ledger = Ledger::load(&dir.join("ledger.json"));
    let snap = std::fs::read(dir.join("snapshot.db")).unwrap();
    let db = check_snapshot_file(&dir.join("snapshot.db"));
    assert_key_bucket(&key_bucket(&db), &ledger, "fixtures/sample/snapshot.db");
    assert_eq!(lease_bucket(&db), {
        let mut l = ledger.live_leases();
        l.sort();
        l
    });
    let zst = std::fs::read(dir.join("snapshot.db.zst")).unwrap();
    assert_eq!(
        zstd::decode_all(zst.as_slice()).unwrap(),
        snap,
        "snapshot.db.zst"
    );
    let mut gz = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(dir.join("snapshot.db.gz")).unwrap()),
        &mut gz,
    )
    .unwrap();
    assert_eq!(gz, snap, "snapshot.db.gz");
    let member = std::fs::read(dir.join("member-snap-db")).unwrap();
    assert_key_bucket(
        &key_bucket(&member),
        &ledger,
        "fixtures/sample/member-snap-db",
    );
}

/// `fixtures/rollout/`, the README's first example, agrees with its
/// ledger: every key, revision and value etcd kept.
#[test]
fn shipped_rollout_fixture_matches_its_ledger() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rollout");
    let ledger = Ledger::load(&dir.join("ledger.json"));
    let db = check_snapshot_file(&dir.join("snapshot.db"));
    assert_key_bucket(&key_bucket(&db), &ledger, "fixtures/rollout/snapshot.db");
    let mut leases = ledger.live_leases();
    leases.sort();
    assert_eq!(lease_bucket(&db), leases);
}

#[test]
#[should_panic(expected = "apt-get install etcd-server etcd-client")]
fn missing_binary_fails_loudly() {
    common::etcd::process::check_binary("evf-no-such-etcd-binary");
}

#[test]
#[should_panic(expected = "no-such-flag")]
fn etcd_start_failure_reports_its_log() {
    EtcdServer::start_with(common::etcd::server::EtcdOptions {
        extra_args: vec!["--no-such-flag".into()],
        ..Default::default()
    });
}
