use evforensics::source::bolt::BoltDb;
use evforensics::source::mvcc::{self, Revision};
use evforensics::ingest::leading_key;
use std::time::Instant;
use std::hash::{BuildHasher, RandomState};
fn main() {
    let f = std::fs::File::open("/tmp/scale/snapshot.db").unwrap();
    let len = f.metadata().unwrap().len() - 32;
    let db = BoltDb::open_with_len(&f, len).unwrap();
    let b = db.bucket(b"key").unwrap().unwrap();
    for mode in 0..5 {
        let t = Instant::now();
        let mut n = 0u64;
        let rs = RandomState::new();
        let mut map = std::collections::HashMap::new();
        db.for_each(&b, |k, v| {
            let rev = Revision::parse(k).unwrap();
            match mode {
                0 => { n += v.len() as u64; }
                1 => { if let Some(key) = leading_key(v) { n += key.len() as u64; } }
                2 => { let kv = mvcc::decode_key_value(&rev, v).unwrap(); n += kv.key.len() as u64; }
                3 => { let key = leading_key(v).unwrap(); let h = rs.hash_one(key); let h2 = rs.hash_one(key); n ^= h ^ h2; }
                _ => { let key = leading_key(v).unwrap(); let h = (rs.hash_one(key) as u128) << 64 | rs.hash_one(key) as u128; map.insert(h, rev.main); }
            }
        });
        println!("mode {mode}: {:?} {n} {}", t.elapsed(), map.len());
    }
}
