//! The WAL reader against a real etcd 3.4: every proposal the test made
//! (puts with leases, kube-apiserver-shaped Txns with mod-revision compares,
//! one whose compare fails, a delete, a lease revoke, a compaction) is in
//! `member/wal` in order, exactly, with the CRC chain verified and no
//! damage; reading changes no byte. A copy with a flipped byte reports a
//! CRC mismatch at that frame of that file; a copy with its tail cut
//! reports a torn tail. Runs in about two seconds.

mod common;

use std::path::{Path, PathBuf};

use common::etcd::server::EtcdServer;
use etcd_client::{
    CompactionOptions, Compare as ClientCompare, CompareOp, PutOptions, Txn as ClientTxn, TxnOp,
};
use evforensics::source::input::sha256_file;
use evforensics::source::wal::{
    Compaction, Compare, CompareResult, CompareTarget, CompareValue, ConfChangeType, CrcStart,
    DamageReason, DeleteRange, EntryRecord, EntryStatus, LeaseGrant, LeaseRevoke, OtherRequest,
    Payload, Put, Range, Request, RequestOp, Settle, SettleLimits, SettledItem, TornKind, Txn,
    WalItem, WalReader, WalSummary,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn put(key: &str, value: &str, lease: i64) -> Put {
    Put {
        key: key.into(),
        value: value.into(),
        lease,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    }
}

fn mod_equal(key: &str, rev: i64) -> Compare {
    Compare {
        target: CompareTarget::Mod,
        result: CompareResult::Equal,
        key: key.into(),
        range_end: Vec::new(),
        against: CompareValue::ModRevision(rev),
    }
}

fn get(key: &str) -> RequestOp {
    RequestOp::Range(Range {
        key: key.into(),
        range_end: Vec::new(),
        limit: 0,
        revision: 0,
        keys_only: false,
        count_only: false,
    })
}

/// kube-apiserver's `OptimisticPut`: `If(Mod(key) == prev).Then(Put).Else(Get)`.
fn optimistic(key: &str, value: &str, prev: i64, lease: i64) -> ClientTxn {
    ClientTxn::new()
        .when([ClientCompare::mod_revision(key, CompareOp::Equal, prev)])
        .and_then([TxnOp::put(
            key,
            value,
            Some(PutOptions::new().with_lease(lease)),
        )])
        .or_else([TxnOp::get(key, None)])
}

fn optimistic_expected(key: &str, value: &str, prev: i64, lease: i64) -> Request {
    Request::Txn(Txn {
        compares: vec![mod_equal(key, prev)],
        success: vec![RequestOp::Put(put(key, value, lease))],
        failure: vec![get(key)],
    })
}

/// Writes the proposals and returns what the WAL must hold, in order.
async fn write_proposals(server: &EtcdServer) -> Vec<Request> {
    let mut c = server.client().await;
    let mut want = Vec::new();
    let rev = |h: Option<&etcd_client::ResponseHeader>| h.expect("header").revision();

    let lease = c.lease_grant(3660, None).await.expect("lease grant");
    want.push(Request::LeaseGrant(LeaseGrant {
        id: lease.id(),
        ttl: 3660,
    }));
    let lease = lease.id();

    c.put(
        "/registry/plain",
        "v1",
        Some(PutOptions::new().with_lease(lease)),
    )
    .await
    .expect("put");
    want.push(Request::Put(put("/registry/plain", "v1", lease)));

    let key = "/registry/events/default/ev.1";
    let created = c
        .txn(optimistic(key, "created", 0, lease))
        .await
        .expect("create txn");
    assert!(created.succeeded());
    want.push(optimistic_expected(key, "created", 0, lease));
    let created = rev(created.header());

    let updated = c
        .txn(optimistic(key, "updated", created, lease))
        .await
        .expect("update txn");
    assert!(updated.succeeded());
    want.push(optimistic_expected(key, "updated", created, lease));
    let updated = rev(updated.header());

    // A stale writer: its compare fails, the failure branch only reads.
    let stale = c
        .txn(optimistic(key, "stale", created, lease))
        .await
        .expect("stale txn");
    assert!(!stale.succeeded(), "the stale compare must fail");
    want.push(optimistic_expected(key, "stale", created, lease));

    c.delete("/registry/plain", None).await.expect("delete");
    want.push(Request::DeleteRange(DeleteRange {
        key: "/registry/plain".into(),
        range_end: Vec::new(),
        prev_kv: false,
    }));

    let del = ClientTxn::new()
        .when([ClientCompare::mod_revision(key, CompareOp::Equal, updated)])
        .and_then([TxnOp::delete(key, None)]);
    assert!(c.txn(del).await.expect("delete txn").succeeded());
    want.push(Request::Txn(Txn {
        compares: vec![mod_equal(key, updated)],
        success: vec![RequestOp::DeleteRange(DeleteRange {
            key: key.into(),
            range_end: Vec::new(),
            prev_kv: false,
        })],
        failure: Vec::new(),
    }));

    c.put(
        "/registry/leased",
        "x",
        Some(PutOptions::new().with_lease(lease)),
    )
    .await
    .expect("leased put");
    want.push(Request::Put(put("/registry/leased", "x", lease)));
    c.lease_revoke(lease).await.expect("lease revoke");
    want.push(Request::LeaseRevoke(LeaseRevoke { id: lease }));

    let head = rev(c
        .put("compact_rev_key", "7", None)
        .await
        .expect("compact_rev_key")
        .header());
    want.push(Request::Put(put("compact_rev_key", "7", 0)));
    c.compact(head, Some(CompactionOptions::new().with_physical()))
        .await
        .expect("compact");
    want.push(Request::Compaction(Compaction {
        revision: head,
        physical: true,
    }));
    want
}

fn wal_files(wal: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(wal)
        .expect("member/wal")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    files
}

/// Copies the `.wal` files of `wal` into a new directory, each cut to its
/// data plus 4 KiB of the zero tail (`data_end` per file, in order): the
/// 64 MB preallocation is not worth hashing again in a debug build.
fn copy_wal(wal: &Path, data_end: &[u64]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (f, end) in wal_files(wal).iter().zip(data_end) {
        let bytes = std::fs::read(f).expect("reading a segment");
        let keep = bytes.len().min(*end as usize + 4096);
        std::fs::write(dir.path().join(f.file_name().unwrap()), &bytes[..keep])
            .expect("writing a copy");
    }
    dir
}

/// The typed proposals of a read (etcd's own v2 requests, no-ops and conf
/// changes left out) with their settlement; every item; the summary.
fn read_wal(
    wal: &Path,
) -> (
    Vec<(EntryRecord, EntryStatus)>,
    Vec<SettledItem>,
    WalSummary,
) {
    let reader = WalReader::open(wal).expect("opening member/wal");
    let mut settle = Settle::new(reader, SettleLimits::default());
    let items: Vec<SettledItem> = settle.by_ref().collect();
    let summary = settle.into_inner().finish();
    let typed = items
        .iter()
        .filter_map(|i| match i {
            SettledItem::Entry(e) => Some(e),
            SettledItem::Other(_) => None,
        })
        .filter(|e| {
            matches!(&e.record.entry.payload, Payload::Proposal(p)
                if !matches!(p.request, Request::Other(_)))
        })
        .map(|e| (e.record.clone(), e.status))
        .collect();
    (typed, items, summary)
}

fn request(r: &EntryRecord) -> &Request {
    match &r.entry.payload {
        Payload::Proposal(p) => &p.request,
        other => panic!("not a proposal: {other:?}"),
    }
}

#[test]
fn real_etcd_wal_holds_every_proposal_in_order() {
    let started = std::time::Instant::now();
    let server = EtcdServer::start();
    let want = rt().block_on(write_proposals(&server));
    let stopped = server.stop();
    let wal = stopped.data_dir().join("member").join("wal");

    // Every proposal, in order, exactly; all committed.
    let (typed, items, summary) = read_wal(&wal);
    for (record, status) in &typed {
        assert_eq!(*status, EntryStatus::Committed, "{record:?}");
    }
    let typed: Vec<EntryRecord> = typed.into_iter().map(|(r, _)| r).collect();
    let got: Vec<&Request> = typed.iter().map(request).collect();
    let want_refs: Vec<&Request> = want.iter().collect();
    assert_eq!(got, want_refs);
    let indexes: Vec<u64> = typed.iter().map(|r| r.entry.index).collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");

    // etcd's own entries are recognized: the member's conf change, a leader
    // no-op, and its v2 requests.
    let entries: Vec<&Payload> = items
        .iter()
        .filter_map(|i| match i {
            SettledItem::Entry(e) => Some(&e.record.entry.payload),
            SettledItem::Other(_) => None,
        })
        .collect();
    assert!(entries.iter().any(|p| matches!(p, Payload::ConfChange(c)
        if c.change == ConfChangeType::AddNode)));
    assert!(entries.iter().any(|p| matches!(p, Payload::LeaderNoop)));
    // etcd 3.4 proposes its v2 requests as whole entries (`v2_server.go`):
    // the cluster version, the member's attributes (`publish`), and a
    // `QGET` for each `/health` probe of the harness.
    let v2: Vec<(&str, &str)> = entries
        .iter()
        .filter_map(|p| match p {
            Payload::Proposal(r) => match &r.request {
                Request::Other(OtherRequest::V2(v2)) => {
                    assert!(!v2.embedded, "{v2:?}");
                    Some((v2.method.as_str(), v2.path.as_str()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(v2.contains(&("PUT", "/0/version")), "{v2:?}");
    assert!(
        v2.iter().any(|(m, p)| *m == "PUT"
            && p.starts_with("/0/members/")
            && p.ends_with("/attributes")),
        "{v2:?}"
    );
    assert!(
        v2.iter().all(|(m, _)| ["PUT", "QGET"].contains(m)),
        "{v2:?}"
    );
    assert_eq!(summary.entries.v2_requests, v2.len() as u64);

    // The chain verifies, nothing is damaged or torn, every byte is hashed,
    // and reading changed none (the hash after reading is the one taken
    // while reading).
    assert!(summary.is_undamaged(), "{:?}", summary.damage);
    assert!(summary.torn_tail.is_none(), "{:?}", summary.torn_tail);
    assert!(!items.iter().any(|i| matches!(
        i,
        SettledItem::Other(WalItem::Damage(_) | WalItem::TornTail(_))
    )));
    assert_eq!(summary.files[0].crc_start, CrcStart::Adopted);
    assert!(summary.files[1..]
        .iter()
        .all(|f| f.crc_start == CrcStart::Verified));
    assert!(summary.records.crc >= 1 && summary.records.state >= 1);
    assert_eq!(summary.entries.unreadable, 0);
    assert!(summary
        .metadata
        .is_some_and(|m| m.node_id != 0 && m.cluster_id != 0));
    let files = wal_files(&wal);
    assert_eq!(summary.files.len(), files.len());
    for (f, read) in files.iter().zip(&summary.files) {
        assert_eq!(&read.path, f);
        assert_eq!(read.hashed_bytes, std::fs::metadata(f).unwrap().len());
        let after = sha256_file(f).expect("hash");
        assert_eq!(
            read.sha256.as_deref(),
            Some(after.as_str()),
            "{}",
            f.display()
        );
    }
    let data_end: Vec<u64> = summary.files.iter().map(|f| f.data_end).collect();

    // A flipped byte inside the lease revoke's record: a CRC mismatch at
    // that frame of that file; the proposals before it are still read.
    let revoke = typed
        .iter()
        .find(|r| matches!(request(r), Request::LeaseRevoke(_)))
        .expect("lease revoke");
    let flipped = copy_wal(&wal, &data_end);
    let target = wal_files(flipped.path())[revoke.at.file].clone();
    let mut bytes = std::fs::read(&target).expect("read copy");
    bytes[revoke.at.offset as usize + 8 + 16] ^= 0x20;
    std::fs::write(&target, &bytes).expect("write copy");
    let (typed_flipped, _, damaged) = read_wal(flipped.path());
    assert_eq!(damaged.damage_count, 1, "{:?}", damaged.damage);
    let d = &damaged.damage[0];
    assert_eq!(
        (d.file.as_path(), d.offset),
        (target.as_path(), revoke.at.offset)
    );
    assert!(
        matches!(d.reason, DamageReason::CrcMismatch { record_type: 2, .. }),
        "{d}"
    );
    let n = typed.iter().position(|r| r.at == revoke.at).unwrap();
    let typed_flipped: Vec<EntryRecord> = typed_flipped.into_iter().map(|(r, _)| r).collect();
    assert_eq!(typed_flipped, typed[..n]);

    // The last segment cut inside its last frame: a torn tail there, no
    // damage, every whole record before it read.
    let cut = copy_wal(&wal, &data_end);
    let last = wal_files(cut.path()).pop().expect("a segment");
    let last_end = *data_end.last().unwrap();
    let bytes = std::fs::read(&last).expect("read copy");
    std::fs::write(&last, &bytes[..last_end as usize - 3]).expect("cut copy");
    let (_, _, cut_summary) = read_wal(cut.path());
    assert!(cut_summary.is_undamaged(), "{:?}", cut_summary.damage);
    let torn = cut_summary.torn_tail.expect("a torn tail");
    assert_eq!(torn.file, last);
    assert!(matches!(torn.kind, TornKind::PartialFrame { .. }), "{torn}");
    assert!(torn.offset < last_end);
    let last_file = summary.files.len() - 1;
    assert_eq!(
        cut_summary.files[last_file].records + 1,
        summary.files[last_file].records
    );
    eprintln!("wal_reader: {:?}", started.elapsed());
}
