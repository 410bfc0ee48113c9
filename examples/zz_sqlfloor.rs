use rusqlite::{Connection, params};
use std::time::Instant;
fn main() {
    let src = Connection::open("/tmp/scale/out.sqlite").unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut st = src.prepare("SELECT key, mod_revision, sub_revision, namespace, name, uid, creation_timestamp, reason, message, type, count, first_timestamp, last_timestamp, involved_kind, involved_namespace, involved_name, involved_uid, involved_api_version, involved_resource_version, involved_field_path, source_component, source_host, occurred_at, object, raw FROM events ORDER BY id").unwrap();
    type R = (String,i64,i64,Vec<Option<String>>, Option<i64>, Option<String>, Vec<u8>);
    let rows: Vec<R> = st.query_map([], |r| {
        let mut v = Vec::new();
        for i in 3..23 { if i == 10 {continue;} v.push(r.get::<_,Option<String>>(i)?); }
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, v, r.get(10)?, r.get(23)?, r.get(24)?))
    }).unwrap().collect::<Result<_,_>>().unwrap();
    eprintln!("loaded {}", rows.len());
    let _ = std::fs::remove_file("/tmp/sqlexp/x.sqlite");
    let db = Connection::open("/tmp/sqlexp/x.sqlite").unwrap();
    db.execute_batch("PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384; PRAGMA locking_mode=EXCLUSIVE;").unwrap();
    db.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY, source_id INT, key TEXT, mod_revision INT, sub_revision INT, live INT, deleted_revision INT,
      c0 TEXT,c1 TEXT,c2 TEXT,c3 TEXT,c4 TEXT,c5 TEXT,c6 TEXT,c7 TEXT,c8 TEXT,c9 TEXT,c10 TEXT,c11 TEXT,c12 TEXT,c13 TEXT,c14 TEXT,c15 TEXT,c16 TEXT,c17 TEXT,c18 TEXT, count INT, object TEXT, raw BLOB);").unwrap();
    if mode.contains("p") {
      db.execute_batch("CREATE TABLE payload (id INTEGER PRIMARY KEY, object TEXT, raw BLOB)").unwrap();
    }
    if mode.contains("u") { db.execute_batch("CREATE UNIQUE INDEX ebr ON events(mod_revision, sub_revision, key);").unwrap(); }
    if mode.contains("c") { db.execute_batch("PRAGMA cache_size=-100000").unwrap(); }
    if mode.contains("I") {
        for sql in ["CREATE INDEX a ON events(key, mod_revision)", "CREATE INDEX b ON events(c9,c10,c11,c18)", "CREATE INDEX c ON events(c0, c18)", "CREATE INDEX d ON events(c4, c18)"] { db.execute_batch(sql).unwrap(); }
    }
    db.execute_batch("CREATE TABLE sr (source_id INT, revision INT, sub INT, key TEXT, tomb INT, rf TEXT, live INT, PRIMARY KEY(source_id, revision, sub, key)) WITHOUT ROWID").unwrap();
    let t = Instant::now();
    db.execute_batch("BEGIN").unwrap();
    {
    let mut ins = db.prepare("INSERT INTO events (source_id,key,mod_revision,sub_revision,live,deleted_revision,c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14,c15,c16,c17,c18,count,object,raw) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28)").unwrap();
    let mut pay = db.prepare(if mode.contains("p") {"INSERT INTO payload VALUES (?1,?2,?3)"} else {"SELECT ?1,?2,?3"}).unwrap();
    let mut srs = db.prepare("INSERT INTO sr VALUES (?1,?2,?3,?4,0,'tree',1)").unwrap();
    for (k, m, s, v, c, o, raw) in &rows {
        if mode.contains("s") { srs.execute(params![1, m, s, k]).unwrap(); }
        if mode.contains("p") {
        ins.execute(params![1, k, m, s, 1, None::<i64>, v[0],v[1],v[2],v[3],v[4],v[5],v[6],v[7],v[8],v[9],v[10],v[11],v[12],v[13],v[14],v[15],v[16],v[17],v[18], c, None::<String>, None::<Vec<u8>>]).unwrap();
        pay.execute(params![db.last_insert_rowid(), o, raw]).unwrap();
        } else {
        ins.execute(params![1, k, m, s, 1, None::<i64>, v[0],v[1],v[2],v[3],v[4],v[5],v[6],v[7],v[8],v[9],v[10],v[11],v[12],v[13],v[14],v[15],v[16],v[17],v[18], c, o, raw]).unwrap();
        }
    }
    }
    eprintln!("insert {:?}", t.elapsed());
    if mode.contains("i") {
        for sql in ["CREATE INDEX a ON events(key, mod_revision)", "CREATE INDEX b ON events(c9,c10,c11,c18)", "CREATE INDEX c ON events(c0, c18)", "CREATE INDEX d ON events(c4, c18)"] {
            let t2 = Instant::now(); db.execute_batch(sql).unwrap(); eprintln!("{sql} {:?}", t2.elapsed());
        }
    }
    if mode.contains("f") {
        let opts = if mode.contains("d") {", detail=column, columnsize=0"} else {""}; db.execute_batch(&format!("CREATE VIRTUAL TABLE fts USING fts5(reason, message, involved_name, content=events, content_rowid=id {opts})")).unwrap();
        let t2 = Instant::now();
        db.execute_batch("INSERT INTO fts(rowid, reason, message, involved_name) SELECT id, c4, c5, c15 FROM events").unwrap();
        eprintln!("fts {:?}", t2.elapsed());
    }
    let t2 = Instant::now();
    db.execute_batch("COMMIT").unwrap();
    eprintln!("commit {:?} total {:?}", t2.elapsed(), t.elapsed());
}
