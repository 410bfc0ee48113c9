//! Tests of the bbolt reader: built images (valid, and damaged in exactly one
//! place each) and real etcd files from `fixtures/third_party/`.

use super::builder::{BucketSpec, Image, ImageBuilder};
use super::*;

type Db = BoltDb<Vec<u8>>;
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn open(image: &Image) -> Db {
    BoltDb::open(image.bytes.clone()).expect("image opens")
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("value of entry {i}").into_bytes()
}

/// Key/value pairs of a bucket, with the walk report.
fn entries(db: &Db, bucket: &Bucket) -> (Pairs, WalkReport) {
    let mut out = Vec::new();
    let report = db.for_each(bucket, |k, v| out.push((k.to_vec(), v.to_vec())));
    (out, report)
}

fn keys_of(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    pairs.iter().map(|(k, _)| k.clone()).collect()
}

/// `n` entries `key-00000..` in one bucket named `events`.
fn events_bucket(n: usize) -> BucketSpec {
    let mut events = BucketSpec::new();
    for i in 0..n {
        events.put(key(i), value(i));
    }
    BucketSpec::new().with_bucket("events", events)
}

/// 20 entries in `events`, 4 per leaf: five leaves under one branch page.
fn two_level_image() -> Image {
    let builder = ImageBuilder {
        max_leaf_elements: 4,
        ..ImageBuilder::default()
    };
    builder.build(&events_bucket(20))
}

fn events_of(db: &Db) -> Bucket {
    db.bucket(b"events").unwrap().expect("events bucket")
}

/// File offset of element `index` of page `id`.
fn element_offset(image: &Image, id: u64, index: usize) -> usize {
    image.page_offset(id) + 16 + 16 * index
}

/// Pages of the events bucket at `level` (0 = leaves), in key order.
fn events_pages(image: &Image, level: u32) -> Vec<u64> {
    image
        .pages_of(&[b"events"])
        .filter(|p| p.level == level)
        .map(|p| p.id)
        .collect()
}

fn damage(page: u64, offset: usize, reason: DamageReason) -> Damage {
    Damage {
        page,
        offset: offset as u64,
        reason,
    }
}

// ---------------------------------------------------------------- valid trees

#[test]
fn valid_tree_with_branches_overflow_inline_and_nested_buckets() {
    let mut events = BucketSpec::new();
    for i in 0..40 {
        events.put(key(i), value(i));
    }
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    events.put("key-big", big.clone());
    let inner = BucketSpec::new().with("a", "1").with("b", "2");
    let mut deep = BucketSpec::new();
    for i in 0..10 {
        deep.put(key(i), vec![b'd'; 100]);
    }
    let outer = BucketSpec::new()
        .with("plain", "v")
        .with_bucket("inner", inner)
        .with_bucket("deep", deep);
    let root = BucketSpec::new()
        .with_bucket("events", events)
        .with_bucket("small", BucketSpec::new().with("x", "y"))
        .with_bucket("outer", outer)
        .with_bucket("empty", BucketSpec::new());
    let builder = ImageBuilder {
        max_leaf_elements: 4,
        max_branch_elements: 3,
        ..ImageBuilder::default()
    };
    let image = builder.build(&root);
    let db = open(&image);

    assert_eq!(db.page_size(), 4096);
    assert_eq!(db.meta().page_id, 1);
    assert_eq!(db.meta().txid, 3);
    assert_eq!(db.meta().root, image.root);
    assert_eq!(db.meta().hwm, image.hwm);
    assert_eq!(db.meta().freelist, None);
    assert_eq!(db.meta_reports()[0].meta().map(|m| m.txid), Some(2));
    assert_eq!(
        db.root_bucket_names().unwrap(),
        vec![
            b"empty".to_vec(),
            b"events".to_vec(),
            b"outer".to_vec(),
            b"small".to_vec()
        ]
    );

    // events: 41 entries in key order through three tree levels; the big
    // value comes back whole from its overflow pages.
    let events_bucket = events_of(&db);
    assert!(!events_bucket.is_inline());
    assert_eq!(events_bucket.root_page(), image.root_of(&[b"events"]));
    let (pairs, report) = entries(&db, &events_bucket);
    let mut expected: Pairs = (0..40).map(|i| (key(i), value(i))).collect();
    expected.push((b"key-big".to_vec(), big));
    assert_eq!(pairs, expected);
    assert!(report.is_clean(), "{:?}", report.damage);
    assert_eq!(report.entries, 41);
    assert_eq!(report.nested_buckets, 0);
    assert_eq!(
        report.pages_read,
        image.pages_of(&[b"events"]).count() as u64
    );
    assert_eq!(
        image.pages_of(&[b"events"]).map(|p| p.level).max(),
        Some(3),
        "11 leaves, 4 branch, 2 branch, 1 root"
    );
    let big_page = image
        .pages_of(&[b"events"])
        .find(|p| p.overflow > 0)
        .expect("an overflow leaf");
    assert_eq!((big_page.kind, big_page.overflow), (PageKind::Leaf, 2));

    // Inline and empty buckets.
    let small = db.bucket(b"small").unwrap().unwrap();
    assert!(small.is_inline());
    assert_eq!(entries(&db, &small).0, vec![(b"x".to_vec(), b"y".to_vec())]);
    let empty = db.bucket(b"empty").unwrap().unwrap();
    assert!(empty.is_inline());
    let (pairs, report) = entries(&db, &empty);
    assert!(pairs.is_empty() && report.is_clean());

    // Nested buckets: for_each skips them, for_each_entry shows them.
    let outer = db.bucket(b"outer").unwrap().unwrap();
    assert!(
        !outer.is_inline(),
        "a bucket with sub-buckets is never inline"
    );
    let (pairs, report) = entries(&db, &outer);
    assert_eq!(pairs, vec![(b"plain".to_vec(), b"v".to_vec())]);
    assert_eq!((report.entries, report.nested_buckets), (1, 2));
    let mut all = Vec::new();
    db.for_each_entry(&outer, |e| all.push((e.key.to_vec(), e.is_bucket())));
    assert_eq!(
        all,
        vec![
            (b"deep".to_vec(), true),
            (b"inner".to_vec(), true),
            (b"plain".to_vec(), false)
        ]
    );
    let inner = db.nested_bucket(&outer, b"inner").unwrap().unwrap();
    assert!(inner.is_inline());
    assert_eq!(
        entries(&db, &inner).0,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ]
    );
    let deep = db.nested_bucket(&outer, b"deep").unwrap().unwrap();
    assert_eq!(deep.root_page(), image.root_of(&[b"outer", b"deep"]));
    assert_eq!(entries(&db, &deep).0.len(), 10);
    assert_eq!(db.nested_bucket(&outer, b"missing").unwrap(), None);
    assert_eq!(db.bucket(b"missing").unwrap(), None);

    // Page statistics match what the builder wrote.
    let stats = db.page_stats();
    let count = |kind| image.pages.iter().filter(|p| p.kind == kind).count() as u64;
    assert_eq!(stats.branch, count(PageKind::Branch));
    assert_eq!(stats.leaf, count(PageKind::Leaf));
    assert_eq!(
        stats.overflow,
        image
            .pages
            .iter()
            .map(|p| u64::from(p.overflow))
            .sum::<u64>()
    );
    assert_eq!(
        (stats.meta, stats.free, stats.freelist, stats.unreadable),
        (2, 0, 0, 0)
    );
    assert_eq!(stats.buckets, 4, "root, events, outer, deep");
    assert_eq!(stats.inline_buckets, 3, "small, empty, inner");
    assert_eq!(stats.entries, 41 + 1 + 1 + 2 + 10);
    assert_eq!(stats.file_pages, image.hwm);
    assert!(stats.damage.is_empty(), "{:?}", stats.damage);
    assert_eq!(
        2 + stats.branch + stats.leaf + stats.overflow + stats.free,
        image.hwm
    );
}

#[test]
fn entries_carry_their_file_location() {
    let image = two_level_image();
    let db = open(&image);
    let first_leaf = events_pages(&image, 0)[0];
    let mut located = Vec::new();
    db.for_each_entry(&events_of(&db), |e| {
        located.push((e.page, e.index, e.key_offset, e.value_offset()))
    });
    let (page, index, key_offset, value_offset) = located[1];
    assert_eq!((page, index), (first_leaf, 1));
    let key_at = key_offset as usize;
    assert_eq!(&image.bytes[key_at..key_at + 9], key(1).as_slice());
    assert_eq!(value_offset, key_offset + 9);
}

#[test]
fn stale_pages_are_free_and_a_persisted_freelist_is_checked() {
    let root = events_bucket(5);
    let unsynced = ImageBuilder {
        stale_pages: 3,
        ..ImageBuilder::default()
    }
    .build(&root);
    let db = open(&unsynced);
    let map = db.page_map();
    assert_eq!(map.free_page_ids().collect::<Vec<_>>(), unsynced.stale);
    let stats = map.stats();
    assert_eq!(
        (
            stats.free,
            stats.freelist,
            stats.freelist_listed,
            stats.free_unlisted
        ),
        (3, 0, None, 0)
    );
    assert!(stats.damage.is_empty());

    let synced = ImageBuilder {
        stale_pages: 3,
        persist_freelist: true,
        ..ImageBuilder::default()
    }
    .build(&root);
    let db = open(&synced);
    assert_eq!(db.meta().freelist, synced.freelist);
    let map = db.page_map();
    assert_eq!(map.free_page_ids().collect::<Vec<_>>(), synced.stale);
    assert!(synced.stale.iter().all(|&id| map.is_listed_free(id)));
    let freelist_page = synced.freelist.unwrap();
    assert!(map.is_in_use(freelist_page));
    let stats = map.stats();
    assert_eq!(stats.freelist, 1);
    assert_eq!(stats.freelist_listed, Some(3));
    assert_eq!(
        (stats.free, stats.free_unlisted, stats.listed_but_reachable),
        (3, 0, 0)
    );
    assert!(stats.damage.is_empty());

    // A freelist that lists a page in use and a page twice.
    let mut bad = synced.clone();
    let ids_at = bad.page_offset(freelist_page) + 16;
    let leaf = bad.root_of(&[]).unwrap();
    bad.put_u64(ids_at, leaf);
    bad.put_u64(ids_at + 8, synced.stale[2]);
    let stats = open(&bad).page_stats();
    assert_eq!(
        stats.damage,
        vec![
            damage(
                freelist_page,
                ids_at,
                DamageReason::FreelistIdInUse {
                    index: 0,
                    listed: leaf
                }
            ),
            damage(
                freelist_page,
                ids_at + 16,
                DamageReason::FreelistIdDuplicate {
                    index: 2,
                    listed: synced.stale[2]
                }
            ),
        ]
    );
    assert_eq!((stats.listed_but_reachable, stats.free_unlisted), (1, 2));
}

#[test]
fn open_with_len_caps_an_etcd_snapshot_trailer() {
    let image = ImageBuilder {
        trailing_pages: 2,
        ..ImageBuilder::default()
    }
    .build(&events_bucket(3));
    let mut bytes = image.bytes.clone();
    bytes.extend_from_slice(&[0xAB; 32]);
    let full_len = bytes.len() as u64;
    let db = BoltDb::open_with_len(bytes.clone(), full_len - 32).unwrap();
    assert_eq!(db.file_len(), full_len - 32);
    assert_eq!(db.page_stats().beyond_hwm, 2);
    // A length past the source is capped at the source.
    let db = BoltDb::open_with_len(&bytes[..], u64::MAX).unwrap();
    assert_eq!(db.file_len(), full_len);
}

#[test]
fn other_page_sizes_and_read_page() {
    for page_size in [512u32, 16384, 65536] {
        let image = ImageBuilder::with_page_size(page_size).build(&events_bucket(30));
        let db = open(&image);
        assert_eq!(db.page_size(), page_size);
        let (pairs, report) = entries(&db, &events_of(&db));
        assert_eq!(keys_of(&pairs), (0..30).map(key).collect::<Vec<_>>());
        assert!(report.is_clean());
    }

    let image = two_level_image();
    let db = open(&image);
    let root = db.read_page(image.root).unwrap();
    assert_eq!(
        (root.id(), root.kind(), root.offset()),
        (image.root, PageKind::Leaf, image.root * 4096)
    );
    assert_eq!(root.view().leaf_element(0).unwrap().key, b"events");
    let meta = db.read_page(0).unwrap();
    assert_eq!(meta.kind(), PageKind::Meta);
    let err = db.read_page(image.hwm).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "page {0} at offset {1}: page id is at or beyond the high-water mark {0}",
            image.hwm,
            image.hwm * 4096
        )
    );
    let mut raw = Vec::new();
    db.read_raw_page(2, &mut raw).unwrap();
    assert_eq!(raw, image.bytes[8192..12288]);
    assert!(db.read_raw_page(image.hwm, &mut raw).is_err());
}

#[test]
fn use_meta_switches_to_the_older_tree() {
    let mut image = ImageBuilder {
        stale_pages: 1,
        ..ImageBuilder::default()
    }
    .build(&events_bucket(2));
    // Let the older meta (page 0, txid 2) point at the stale page as root.
    image.set_meta_u64(0, 32, image.stale[0]);
    let mut db = open(&image);
    assert_eq!(db.meta().page_id, 1);
    assert_eq!(db.use_meta(0).unwrap().root, image.stale[0]);
    let (buckets, report) = db.root_buckets();
    assert!(buckets.is_empty());
    assert_eq!(report.entries, 1, "the stale page holds one plain entry");
    assert!(matches!(
        db.use_meta(7),
        Err(BoltError::MetaUnusable { page: 7, .. })
    ));
}

// ---------------------------------------------------------------- meta damage

#[test]
fn empty_file() {
    let err = BoltDb::open(Vec::new()).unwrap_err();
    assert!(matches!(
        err,
        BoltError::NoValidMeta {
            meta0: MetaProblem::Truncated {
                offset: 0,
                needed: 80,
                file_len: 0
            },
            meta1: MetaProblem::NotFound,
        }
    ));
    assert_eq!(
        err.to_string(),
        "no valid bbolt meta page: meta 0: file too short: meta at offset 0 needs 80 bytes, file has 0; \
         meta 1: no meta page found at any probed page size (512 B to 64 MiB)"
    );
}

#[test]
fn random_bytes() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let err = BoltDb::open(bytes).unwrap_err();
    assert!(
        matches!(
            err,
            BoltError::NoValidMeta {
                meta0: MetaProblem::BadMagic { .. },
                meta1: MetaProblem::NotFound
            }
        ),
        "{err}"
    );
}

#[test]
fn zeroed_meta_0_uses_meta_1_found_by_probing() {
    for page_size in [512u32, 4096, 16384] {
        let mut image = ImageBuilder::with_page_size(page_size).build(&events_bucket(3));
        image.write_at(0, &vec![0; page_size as usize]);
        let db = open(&image);
        assert_eq!(db.page_size(), page_size);
        assert_eq!(
            db.meta_reports()[0].problem(),
            Some(&MetaProblem::BadMagic { found: 0 })
        );
        assert_eq!(db.meta_reports()[1].offset, Some(u64::from(page_size)));
        assert_eq!((db.meta().page_id, db.meta().txid), (1, 3));
        assert_eq!(entries(&db, &events_of(&db)).0.len(), 3);
    }
}

#[test]
fn bad_checksum_on_meta_1_falls_back_to_meta_0() {
    let mut image = two_level_image();
    let txid_at = image.page_offset(1) + 64;
    image.put_u64(txid_at, 99); // no reseal: checksum now wrong
    let db = open(&image);
    assert_eq!((db.meta().page_id, db.meta().txid), (0, 2));
    let report = &db.meta_reports()[1];
    let Some(MetaProblem::ChecksumMismatch { stored, computed }) = report.problem() else {
        panic!("expected a checksum mismatch, got {report}")
    };
    assert_ne!(stored, computed);
    assert_eq!(
        report.to_string(),
        format!("meta page 1 at offset 4096: damaged: checksum mismatch (stored 0x{stored:016x}, computed 0x{computed:016x})")
    );
    assert_eq!(db.meta_reports()[0].to_string(), format!("meta page 0 at offset 0: valid (txid 2, root page {}, high-water mark {}, page size 4096)", image.root, image.hwm));
    assert_eq!(entries(&db, &events_of(&db)).0.len(), 20);
}

#[test]
fn both_metas_bad() {
    let mut image = two_level_image();
    image.write_at(0, &[0; 4096]);
    image.put_u64(image.page_offset(1) + 64, 99);
    match BoltDb::open(image.bytes.clone()).unwrap_err() {
        BoltError::NoValidMeta { meta0, meta1 } => {
            assert_eq!(meta0, MetaProblem::BadMagic { found: 0 });
            assert!(
                matches!(meta1, MetaProblem::ChecksumMismatch { .. }),
                "{meta1}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn sane_checksum_but_insane_fields_are_rejected() {
    let mut image = two_level_image();
    image.set_meta_u64(1, 32, image.hwm); // root at the HWM
    image.set_meta_u64(0, 48, 1); // freelist on a meta page
    match BoltDb::open(image.bytes.clone()).unwrap_err() {
        BoltError::NoValidMeta { meta0, meta1 } => {
            assert_eq!(
                meta0,
                MetaProblem::FreelistOutOfRange {
                    freelist: 1,
                    hwm: image.hwm
                }
            );
            assert_eq!(
                meta1,
                MetaProblem::RootOutOfRange {
                    root: image.hwm,
                    hwm: image.hwm
                }
            );
        }
        other => panic!("unexpected {other}"),
    }

    let mut image = two_level_image();
    image.put_u32(24, 4000); // meta 0 page size not a power of two
    image.reseal_meta(0);
    let db = open(&image);
    assert_eq!(
        db.meta_reports()[0].problem(),
        Some(&MetaProblem::BadPageSize { found: 4000 })
    );
    assert_eq!(db.meta().page_id, 1);
}

#[test]
fn big_endian_file_is_refused_clearly() {
    let mut image = two_level_image();
    for page in 0..2 {
        let at = image.page_offset(page) + 16;
        image.bytes[at..at + 4].reverse();
    }
    let err = BoltDb::open(image.bytes.clone()).unwrap_err();
    assert!(matches!(err, BoltError::BigEndian { offset: 16 }));
    assert!(err
        .to_string()
        .starts_with("big-endian bbolt file is not supported"));
}

// ---------------------------------------------------------------- page damage

#[test]
fn truncated_file_losing_the_root_page_is_an_error_for_lookups() {
    let image = two_level_image();
    let leaves = events_pages(&image, 0);
    // Cut the file in the middle of the last leaf (written before the branch).
    let last_leaf = *leaves.last().unwrap();
    let branch = events_pages(&image, 1)[0];
    assert!(
        branch > last_leaf,
        "builder writes leaves before their branch"
    );
    let cut = image.page_offset(last_leaf) + 100;
    let db = BoltDb::open(image.bytes[..cut].to_vec()).unwrap();
    // The root bucket page (written last) is gone too: the events bucket
    // cannot be found, and that is an error, not an empty answer.
    let err = db.bucket(b"events").unwrap_err();
    let BoltError::BucketTreeDamaged { damage: found } = err else {
        panic!("{err}")
    };
    assert_eq!(
        found,
        vec![damage(
            image.root,
            image.page_offset(image.root),
            DamageReason::PastEndOfFile {
                end: (image.root + 1) * 4096,
                file_len: cut as u64
            },
        )]
    );

    let stats = db.page_stats();
    assert_eq!(
        (stats.file_pages, stats.past_eof),
        (last_leaf, image.hwm - last_leaf)
    );
}

#[test]
fn truncated_file_with_an_intact_root_keeps_the_other_leaves() {
    // Move the last leaf (keys 16..20) to the highest page id, where a stale
    // page was, so root and branch lie before the cut.
    let mut image = ImageBuilder {
        max_leaf_elements: 4,
        stale_pages: 1,
        ..ImageBuilder::default()
    }
    .build(&events_bucket(20));
    let last_leaf = *events_pages(&image, 0).last().unwrap();
    let moved_to = image.stale[0];
    assert_eq!(moved_to, image.hwm - 1);
    let leaf_bytes =
        image.bytes[image.page_offset(last_leaf)..image.page_offset(last_leaf + 1)].to_vec();
    let to = image.page_offset(moved_to);
    image.write_at(to, &leaf_bytes);
    image.put_u64(to, moved_to);
    let branch = events_pages(&image, 1)[0];
    image.put_u64(element_offset(&image, branch, 4) + 8, moved_to);

    let cut = to + 100;
    let db = BoltDb::open(image.bytes[..cut].to_vec()).unwrap();
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(keys_of(&pairs), (0..16).map(key).collect::<Vec<_>>());
    assert_eq!(
        report.damage,
        vec![damage(
            moved_to,
            to,
            DamageReason::PastEndOfFile {
                end: (moved_to + 1) * 4096,
                file_len: cut as u64
            }
        )]
    );
    assert_eq!(
        report.damage[0].to_string(),
        format!("page {moved_to} at offset {to}: page extends past end of file (needs bytes up to {}, file has {cut})", to + 4096)
    );
    // The original slot of the moved leaf is now unreferenced: free.
    let stats = db.page_stats();
    assert_eq!((stats.free, stats.unreadable, stats.past_eof), (1, 0, 1));
}

/// File offset of the events bucket header (the value of its root entry).
fn db_events_value_offset(image: &Image) -> usize {
    let db = BoltDb::open(image.bytes.clone()).unwrap();
    let mut at = 0;
    db.for_each_entry(&db.root_bucket(), |e| {
        if e.key == b"events" {
            at = e.value_offset() as usize;
        }
    });
    at
}

#[test]
fn child_beyond_high_water_mark() {
    let mut image = two_level_image();
    let branch = events_pages(&image, 1)[0];
    let at = element_offset(&image, branch, 2);
    image.put_u64(at + 8, image.hwm + 5);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    let expected: Vec<Vec<u8>> = (0..20).filter(|i| !(8..12).contains(i)).map(key).collect();
    assert_eq!(keys_of(&pairs), expected);
    assert_eq!(
        report.damage,
        vec![damage(
            branch,
            at,
            DamageReason::ChildBeyondHighWaterMark {
                index: 2,
                child: image.hwm + 5,
                hwm: image.hwm
            }
        )]
    );
    assert_eq!(
        report.damage[0].to_string(),
        format!(
            "page {branch} at offset {at}: element 2 points to page {}, at or beyond the high-water mark {}",
            image.hwm + 5,
            image.hwm
        )
    );
    // The unreferenced leaf now counts as free.
    let stats = db.page_stats();
    assert_eq!(stats.free, 1);
    assert_eq!(stats.damage, report.damage);
}

#[test]
fn child_pointing_at_a_meta_page() {
    let mut image = two_level_image();
    let branch = events_pages(&image, 1)[0];
    let at = element_offset(&image, branch, 0);
    image.put_u64(at + 8, 1);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(pairs.len(), 16);
    assert_eq!(
        report.damage,
        vec![damage(
            branch,
            at,
            DamageReason::ChildIsMeta { index: 0, child: 1 }
        )]
    );
}

#[test]
fn cycle_to_an_ancestor_is_cut() {
    // 3 levels: 27 entries, 3 per leaf, 3 per branch.
    let builder = ImageBuilder {
        max_leaf_elements: 3,
        max_branch_elements: 3,
        ..ImageBuilder::default()
    };
    let mut image = builder.build(&events_bucket(27));
    let top = image.root_of(&[b"events"]).unwrap();
    let mids = events_pages(&image, 1);
    assert_eq!(mids.len(), 3);
    // The second mid branch's last element points back at the top branch.
    let at = element_offset(&image, mids[1], 2);
    image.put_u64(at + 8, top);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    // Keys 15..18 lived in the leaf that pointer used to reach.
    let expected: Vec<Vec<u8>> = (0..27).filter(|i| !(15..18).contains(i)).map(key).collect();
    assert_eq!(keys_of(&pairs), expected);
    assert_eq!(
        report.damage,
        vec![damage(
            mids[1],
            at,
            DamageReason::AlreadyVisited {
                index: 2,
                child: top
            }
        )]
    );
}

#[test]
fn shared_subtree_is_walked_once() {
    let mut image = two_level_image();
    let branch = events_pages(&image, 1)[0];
    let leaves = events_pages(&image, 0);
    let at = element_offset(&image, branch, 3);
    image.put_u64(at + 8, leaves[0]);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(pairs.len(), 16);
    assert_eq!(
        report.damage,
        vec![damage(
            branch,
            at,
            DamageReason::AlreadyVisited {
                index: 3,
                child: leaves[0]
            }
        )]
    );
}

/// An image whose events tree is a chain of `links` one-element branch
/// pages above the single leaf.
fn chain_image(links: u64) -> Image {
    let mut image = ImageBuilder {
        inline_buckets: false,
        ..ImageBuilder::default()
    }
    .build(&events_bucket(2));
    let leaf = image.root_of(&[b"events"]).unwrap();
    let first = image.hwm;
    image.bytes.resize(((first + links) * 4096) as usize, 0);
    for i in 0..links {
        let id = first + i;
        let child = if i + 1 == links { leaf } else { id + 1 };
        let at = image.page_offset(id);
        image.put_u64(at, id);
        image.put_u16(at + 8, 0x01);
        image.put_u16(at + 10, 1);
        image.put_u32(at + 16, 16); // pos: key right after the element
        image.put_u32(at + 20, 1); // ksize
        image.put_u64(at + 24, child);
        image.bytes[at + 32] = b'k';
    }
    let value_at = db_events_value_offset(&image);
    image.put_u64(value_at, first);
    image.hwm = first + links;
    for meta in 0..2 {
        image.set_meta_u64(meta, 56, image.hwm);
    }
    image
}

#[test]
fn depth_limit_stops_runaway_trees() {
    // 63 branch levels + the leaf = 64 levels: still readable.
    let image = chain_image(63);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(pairs.len(), 2);
    assert!(report.is_clean());

    // 64 branch levels: the leaf is one level too deep.
    let image = chain_image(64);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert!(pairs.is_empty());
    let deepest = image.hwm - 1;
    let leaf = image.root_of(&[b"events"]).unwrap();
    assert_eq!(
        report.damage,
        vec![damage(
            deepest,
            element_offset(&image, deepest, 0),
            DamageReason::TooDeep {
                index: 0,
                child: leaf,
                limit: MAX_DEPTH
            }
        )]
    );
    assert_eq!(report.pages_read, 64);
}

#[test]
fn element_pos_past_page_end() {
    let mut image = two_level_image();
    let leaf = events_pages(&image, 0)[1];
    let at = element_offset(&image, leaf, 1);
    image.put_u32(at + 4, 4070);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    let expected: Vec<Vec<u8>> = (0..20).filter(|&i| i != 5).map(key).collect();
    assert_eq!(keys_of(&pairs), expected);
    assert_eq!(
        report.damage,
        vec![damage(
            leaf,
            at,
            DamageReason::KeyOutOfBounds {
                index: 1,
                element_at: 32,
                pos: 4070,
                ksize: 9,
                span: 4096
            }
        )]
    );
    assert_eq!(
        report.damage[0].to_string(),
        format!("page {leaf} at offset {at}: element 1 key extends past page end (element at 32 + pos 4070 + ksize 9 > 4096)")
    );

    // A value running past the end.
    let mut image = two_level_image();
    let at = element_offset(&image, leaf, 0);
    image.put_u32(at + 12, 5000);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(pairs.len(), 19);
    assert!(matches!(
        report.damage[0].reason,
        DamageReason::ValueOutOfBounds {
            index: 0,
            vsize: 5000,
            ..
        }
    ));
}

#[test]
fn absurd_overflow_counts() {
    let mut image = two_level_image();
    let leaf = events_pages(&image, 0)[2];
    image.put_u32(image.page_offset(leaf) + 12, u32::MAX);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert_eq!(pairs.len(), 16);
    assert_eq!(
        report.damage,
        vec![damage(
            leaf,
            image.page_offset(leaf),
            DamageReason::OverflowBeyondHighWaterMark {
                overflow: u32::MAX,
                hwm: image.hwm
            }
        )]
    );

    // Below a huge HWM the span limit stops the read before any allocation.
    for meta in 0..2 {
        image.set_meta_u64(meta, 56, 1 << 40);
    }
    image.put_u32(image.page_offset(leaf) + 12, 1 << 20);
    let db = open(&image);
    let (_, report) = entries(&db, &events_of(&db));
    assert_eq!(
        report.damage,
        vec![damage(
            leaf,
            image.page_offset(leaf),
            DamageReason::SpanTooLarge {
                overflow: 1 << 20,
                bytes: (1 << 20 | 1) * 4096,
                limit: MAX_PAGE_SPAN
            }
        )]
    );
    // And past the end of the file otherwise.
    image.put_u32(image.page_offset(leaf) + 12, 1000);
    let db = open(&image);
    let (_, report) = entries(&db, &events_of(&db));
    assert!(matches!(
        report.damage[0].reason,
        DamageReason::PastEndOfFile { .. }
    ));
}

#[test]
fn overflow_covering_a_sibling_is_reported() {
    let mut image = two_level_image();
    let leaves = events_pages(&image, 0);
    // Leaf 0 claims one overflow page: that is leaf 1's page.
    assert_eq!(leaves[1], leaves[0] + 1);
    image.put_u32(image.page_offset(leaves[0]) + 12, 1);
    let db = open(&image);
    let (pairs, report) = entries(&db, &events_of(&db));
    let expected: Vec<Vec<u8>> = (0..20).filter(|i| !(4..8).contains(i)).map(key).collect();
    assert_eq!(keys_of(&pairs), expected);
    let branch = events_pages(&image, 1)[0];
    assert_eq!(
        report.damage,
        vec![damage(
            branch,
            element_offset(&image, branch, 1),
            DamageReason::AlreadyVisited {
                index: 1,
                child: leaves[1]
            }
        )]
    );
}

#[test]
fn header_id_mismatch_and_wrong_flags() {
    let image = two_level_image();
    let leaf = events_pages(&image, 0)[3];
    let at = image.page_offset(leaf);
    let check = |image: &Image, reason: DamageReason| {
        let db = open(image);
        let (pairs, report) = entries(&db, &events_of(&db));
        assert_eq!(
            keys_of(&pairs),
            (0..20)
                .filter(|i| !(12..16).contains(i))
                .map(key)
                .collect::<Vec<_>>()
        );
        assert_eq!(report.damage, vec![damage(leaf, at, reason)]);
        // The page is referenced but unreadable: not free.
        let stats = db.page_stats();
        assert_eq!((stats.unreadable, stats.free), (1, 0));
    };

    let mut mismatch = image.clone();
    mismatch.put_u64(at, 999);
    check(&mismatch, DamageReason::HeaderIdMismatch { found: 999 });

    let mut two_flags = image.clone();
    two_flags.put_u16(at + 8, 0x03);
    check(&two_flags, DamageReason::BadFlags { flags: 0x03 });

    let mut freelist = image.clone();
    freelist.put_u16(at + 8, 0x10);
    check(
        &freelist,
        DamageReason::UnexpectedKind {
            expected: "a branch or leaf page",
            found: PageKind::Freelist,
        },
    );

    let mut count = image.clone();
    count.put_u16(at + 10, 300);
    let db = open(&count);
    let (_, report) = entries(&db, &events_of(&db));
    assert_eq!(
        report.damage,
        vec![damage(
            leaf,
            at,
            DamageReason::ElementsExceedPage {
                count: 300,
                needed: 4816,
                span: 4096
            }
        )]
    );
}

#[test]
fn keys_out_of_order_are_reported_but_kept() {
    let mut events = BucketSpec::new();
    events.put("a", "1");
    events.put("b", "2");
    events.put("b", "3");
    let image = ImageBuilder::default().build(
        &BucketSpec::new()
            .with_bucket("events", events.clone())
            .with("x", "1"),
    );
    let db = open(&image);
    // `events` is inline here (small, leaf-only).
    let bucket = events_of(&db);
    assert!(bucket.is_inline());
    let (pairs, report) = entries(&db, &bucket);
    assert_eq!(pairs.len(), 3);
    assert_eq!(report.damage.len(), 1);
    let DamageReason::InlineBucket { inner, .. } = &report.damage[0].reason else {
        panic!("{:?}", report.damage)
    };
    assert_eq!(**inner, DamageReason::KeyOrder { index: 2 });
}

#[test]
fn damaged_inline_bucket() {
    let image = ImageBuilder::default()
        .build(&BucketSpec::new().with_bucket("events", BucketSpec::new().with("a", "1")));
    let db = open(&image);
    let mut location = None;
    db.for_each_entry(&db.root_bucket(), |e| {
        location = Some((e.page, e.index, e.value_offset()))
    });
    let (page, index, value_at) = location.unwrap();
    let inline_at = value_at as usize + 16;

    let mut bad_count = image.clone();
    bad_count.put_u16(inline_at + 10, 7);
    let db = open(&bad_count);
    let (pairs, report) = entries(&db, &events_of(&db));
    assert!(pairs.is_empty());
    assert_eq!(
        report.damage,
        vec![damage(
            page,
            inline_at,
            DamageReason::InlineBucket {
                index,
                inner: Box::new(DamageReason::ElementsExceedPage {
                    count: 7,
                    needed: 128,
                    span: 34
                })
            }
        )]
    );
    // page_stats walks inline buckets too and sees the same damage.
    assert_eq!(db.page_stats().damage, report.damage);

    let mut branch_inline = image.clone();
    branch_inline.put_u16(inline_at + 8, 0x01);
    let db = open(&branch_inline);
    let (_, report) = entries(&db, &events_of(&db));
    assert_eq!(
        report.damage[0].reason,
        DamageReason::InlineBucket {
            index,
            inner: Box::new(DamageReason::UnexpectedKind {
                expected: "an inline leaf page",
                found: PageKind::Branch
            })
        }
    );
    assert_eq!(
        report.damage[0].to_string(),
        format!("page {page} at offset {inline_at}: inline bucket in element {index}: expected an inline leaf page, found a branch page")
    );
}

#[test]
fn bucket_value_too_short_and_bucket_root_out_of_range() {
    let image = two_level_image();
    let value_at = db_events_value_offset(&image);
    let root_leaf_element = element_offset(&image, image.root, 0);

    let mut short = image.clone();
    short.put_u32(root_leaf_element + 12, 8);
    let db = open(&short);
    let (buckets, report) = db.root_buckets();
    assert!(buckets.is_empty());
    assert_eq!(
        report.damage,
        vec![damage(
            image.root,
            root_leaf_element,
            DamageReason::BucketValueTooShort { index: 0, vsize: 8 }
        )]
    );
    assert!(matches!(
        db.bucket(b"events"),
        Err(BoltError::BucketTreeDamaged { .. })
    ));
    assert!(matches!(
        db.root_bucket_names(),
        Err(BoltError::BucketTreeDamaged { .. })
    ));

    let mut far = image.clone();
    far.put_u64(value_at, 1 << 50);
    let db = open(&far);
    let bucket = events_of(&db);
    let (pairs, report) = entries(&db, &bucket);
    assert!(pairs.is_empty());
    assert_eq!(
        report.damage,
        vec![damage(
            image.root,
            value_at,
            DamageReason::ChildBeyondHighWaterMark {
                index: 0,
                child: 1 << 50,
                hwm: image.hwm
            }
        )]
    );
}

#[test]
fn damage_in_a_nested_page_bucket_is_found_by_page_stats() {
    let mut deep = BucketSpec::new();
    for i in 0..200 {
        deep.put(key(i), vec![b'v'; 64]);
    }
    let root = BucketSpec::new().with_bucket("outer", BucketSpec::new().with_bucket("deep", deep));
    let mut image = ImageBuilder::default().build(&root);
    let deep_leaf = image
        .pages_of(&[b"outer", b"deep"])
        .find(|p| p.level == 0)
        .unwrap()
        .id;
    image.put_u64(image.page_offset(deep_leaf), 12345);
    let stats = open(&image).page_stats();
    assert_eq!(
        stats.damage,
        vec![damage(
            deep_leaf,
            image.page_offset(deep_leaf),
            DamageReason::HeaderIdMismatch { found: 12345 }
        )]
    );
    assert_eq!(stats.unreadable, 1);
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // Flip each byte of a small image in turn: opening and walking must never
    // panic, and whatever is reported must name a page inside the file.
    let builder = ImageBuilder {
        page_size: 512,
        max_leaf_elements: 3,
        ..ImageBuilder::default()
    };
    let image = builder.build(
        &BucketSpec::new()
            .with_bucket("events", {
                let mut b = BucketSpec::new();
                for i in 0..12 {
                    b.put(key(i), value(i));
                }
                b
            })
            .with_bucket("small", BucketSpec::new().with("a", "b")),
    );
    for at in 0..image.bytes.len() {
        let mut bytes = image.bytes.clone();
        bytes[at] ^= 0xFF;
        let Ok(db) = BoltDb::open(bytes) else {
            continue;
        };
        let (buckets, _) = db.root_buckets();
        for (_, bucket) in &buckets {
            let _ = db.for_each(bucket, |_, _| {});
        }
        let stats = db.page_stats();
        assert!(
            stats
                .damage
                .iter()
                .all(|d| d.offset < image.bytes.len() as u64 + 512),
            "{at}: {:?}",
            stats.damage
        );
    }
}

// ---------------------------------------------------------------- real files

fn fixture(path: &str) -> std::fs::File {
    let full = format!("{}/fixtures/third_party/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::File::open(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn fixture_bytes(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/third_party/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const ETCD_BUCKETS: [&str; 10] = [
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
];

fn names(db: &BoltDb<std::fs::File>) -> Vec<String> {
    db.root_bucket_names()
        .unwrap()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

/// Main revisions of the `key` bucket (big-endian u64 before the `_`).
fn revisions(db: &BoltDb<std::fs::File>) -> Vec<u64> {
    let mut out = Vec::new();
    let report = db.for_each(&db.bucket(b"key").unwrap().unwrap(), |k, _| {
        out.push(u64::from_be_bytes(k[..8].try_into().unwrap()));
    });
    assert!(report.is_clean());
    out
}

#[test]
fn real_auger_kubernetes_db() {
    let db = BoltDb::open(fixture("etcd-auger-testdata/boltdb/db")).unwrap();
    let [m0, m1] = db.meta_reports();
    assert_eq!((m0.meta().unwrap().txid, m1.meta().unwrap().txid), (2, 3));
    assert_eq!(
        (
            db.meta().page_id,
            db.meta().root,
            db.meta().hwm,
            db.meta().freelist
        ),
        (1, 4, 5, Some(2))
    );
    assert_eq!(names(&db), ETCD_BUCKETS);

    let key_bucket = db.bucket(b"key").unwrap().unwrap();
    assert_eq!(key_bucket.root_page(), Some(2));
    let (pairs, report) = {
        let mut out = Vec::new();
        let report = db.for_each(&key_bucket, |k, v| out.push((k.to_vec(), v.to_vec())));
        (out, report)
    };
    assert!(report.is_clean());
    assert_eq!(pairs.len(), 4);
    // auger's expected raw values of items 0..2 of page 2.
    for (i, (_, v)) in pairs.iter().take(3).enumerate() {
        assert_eq!(
            v,
            &fixture_bytes(&format!("etcd-auger-testdata/boltdb/page2item{i}.bin")),
            "item {i}"
        );
    }
    assert_eq!(revisions(&db), [4, 82702, 82703, 232274]);

    let meta = db.bucket(b"meta").unwrap().unwrap();
    assert!(meta.is_inline());
    let mut consistent_index = None;
    db.for_each(&meta, |k, v| {
        if k == b"consistent_index" {
            consistent_index = Some(u64::from_be_bytes(v.try_into().unwrap()));
        }
    });
    assert_eq!(consistent_index, Some(698_493));

    // The metas name page 2 as the freelist, but page 2 is the key bucket's
    // leaf: the file was not written with a synced freelist.
    let stats = db.page_stats();
    assert_eq!(
        stats.damage,
        vec![damage(
            2,
            8192,
            DamageReason::UnexpectedKind {
                expected: "a freelist page",
                found: PageKind::Leaf
            }
        )]
    );
    assert_eq!(
        (
            stats.leaf,
            stats.branch,
            stats.free,
            stats.buckets,
            stats.inline_buckets,
            stats.entries
        ),
        (2, 0, 1, 2, 9, 10)
    );
    assert_eq!(db.page_map().free_page_ids().collect::<Vec<_>>(), [3]);
}

#[test]
fn real_etcd_35_snapshot_with_sha256_trailer() {
    let file = fixture("swathi-karanth-etcd-datastore/snapshot.db");
    let len = ReadAt::len(&file);
    assert_eq!(len % 512, 32, "etcd appends a SHA-256 to snapshots");
    let db = BoltDb::open_with_len(file, len - 32).unwrap();
    assert_eq!(
        (
            db.meta().page_id,
            db.meta().txid,
            db.meta().root,
            db.meta().hwm
        ),
        (0, 70, 2, 6)
    );
    assert_eq!(db.meta_reports()[1].meta().unwrap().txid, 69);
    assert_eq!(names(&db), ETCD_BUCKETS);
    let key_bucket = db.bucket(b"key").unwrap().unwrap();
    assert!(key_bucket.is_inline());
    assert_eq!(revisions(&db), (2..=13).collect::<Vec<_>>());

    let stats = db.page_stats();
    assert!(stats.damage.is_empty(), "{:?}", stats.damage);
    assert_eq!(
        (
            stats.leaf,
            stats.freelist,
            stats.freelist_listed,
            stats.free,
            stats.free_unlisted
        ),
        (1, 1, Some(2), 2, 0)
    );
    assert_eq!(
        (stats.buckets, stats.inline_buckets, stats.entries),
        (1, 10, 20)
    );
    assert_eq!(db.page_map().free_page_ids().collect::<Vec<_>>(), [3, 4]);

    // Without the cap the trailer is simply past the HWM.
    let db = BoltDb::open(fixture("swathi-karanth-etcd-datastore/snapshot.db")).unwrap();
    assert_eq!(db.file_len(), len);
    assert_eq!(revisions(&db).len(), 12);
}

#[test]
fn real_corrupted_backup_reports_its_freelist() {
    let db = BoltDb::open(fixture("etcd-io-etcd-testdata/corrupted_backup.db")).unwrap();
    assert_eq!(
        (
            db.meta().page_id,
            db.meta().txid,
            db.meta().root,
            db.meta().hwm,
            db.meta().freelist
        ),
        (1, 11, 2, 5, Some(3))
    );
    assert_eq!(names(&db), ETCD_BUCKETS);
    assert_eq!(revisions(&db), [2]);
    // Freelist page 3 lists page 3 — itself — twice.
    let stats = db.page_stats();
    assert_eq!(
        stats.damage,
        vec![
            damage(
                3,
                3 * 4096 + 16,
                DamageReason::FreelistIdInUse {
                    index: 0,
                    listed: 3
                }
            ),
            damage(
                3,
                3 * 4096 + 24,
                DamageReason::FreelistIdInUse {
                    index: 1,
                    listed: 3
                }
            ),
        ]
    );
    assert_eq!(
        (
            stats.file_pages,
            stats.beyond_hwm,
            stats.free,
            stats.free_unlisted
        ),
        (13, 8, 1, 1)
    );
    assert_eq!(db.page_map().free_page_ids().collect::<Vec<_>>(), [4]);
}
