//! `evforensics query`: run SQL (or a saved question from `queries/`)
//! against the database, opened read-only, and print the result.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Context};
use rusqlite::types::ValueRef;

use super::{DbArg, UsageError, EXIT_OK};
use crate::helpers::{csv_text_cell, edit_distance, hex};
use crate::store::Store;

/// The saved questions, from `queries/*.sql`: the first line of each is a
/// `-- description` comment.
pub const SAVED_QUERIES: &[(&str, &str)] = &[
    (
        "deleted-objects",
        include_str!("../../queries/deleted-objects.sql"),
    ),
    (
        "denied-requests-by-user",
        include_str!("../../queries/denied-requests-by-user.sql"),
    ),
    (
        "exec-into-pods",
        include_str!("../../queries/exec-into-pods.sql"),
    ),
    (
        "expired-events",
        include_str!("../../queries/expired-events.sql"),
    ),
    (
        "image-pull-failures",
        include_str!("../../queries/image-pull-failures.sql"),
    ),
    (
        "oom-killed-pods",
        include_str!("../../queries/oom-killed-pods.sql"),
    ),
    (
        "secret-access",
        include_str!("../../queries/secret-access.sql"),
    ),
    (
        "who-deleted-what",
        include_str!("../../queries/who-deleted-what.sql"),
    ),
];

/// Table cells longer than this are cut (csv and json print them whole).
const TABLE_CELL_MAX: usize = 80;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for reading (long cells cut, NULL shown as NULL).
    Table,
    /// RFC 4180 CSV with a header row (NULL is an empty field; text that
    /// starts with = + - @ gets a leading ' against spreadsheet formulas).
    Csv,
    /// A JSON array of objects, one per row (NULL is null).
    Json,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    evforensics query --list\n  \
    evforensics query who-deleted-what\n  \
    evforensics query case.sql                 SQL from a file (an existing FILE.sql)\n  \
    evforensics query - < case.sql             SQL from standard input\n  \
    evforensics query --db case.sqlite --format csv \"SELECT reason, count(*) FROM events GROUP BY 1\"")]
pub struct QueryArgs {
    #[command(flatten)]
    db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// List the saved questions (name and description) and exit.
    #[arg(long, conflicts_with_all = ["name", "query"])]
    list: bool,
    /// Run the saved question NAME (see --list).
    #[arg(long, value_name = "NAME", conflicts_with = "query")]
    name: Option<String>,
    /// An SQL statement (read-only), the name of a saved question, an
    /// existing file whose name ends in .sql holding the statement, or `-`:
    /// the statement from standard input.
    #[arg(value_name = "SQL_OR_NAME", required_unless_present_any = ["list", "name"])]
    query: Option<String>,
}

/// The description of a saved question: its first comment line.
pub fn description(sql: &str) -> &str {
    sql.lines()
        .next()
        .and_then(|l| l.strip_prefix("--"))
        .map(str::trim)
        .unwrap_or("")
}

fn saved(name: &str) -> Option<&'static str> {
    SAVED_QUERIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| *sql)
}

pub fn run(args: QueryArgs) -> anyhow::Result<i32> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.list {
        let width = SAVED_QUERIES
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0);
        for (name, sql) in SAVED_QUERIES {
            writeln!(out, "{name:width$}  {}", description(sql))?;
        }
        out.flush()?;
        return Ok(EXIT_OK);
    }
    let sql: Cow<'static, str> = match (&args.name, &args.query) {
        (Some(name), _) => Cow::Borrowed(saved(name).ok_or_else(|| no_saved_question(name))?),
        (None, Some(q)) => sql_argument(q)?,
        (None, None) => {
            return Err(UsageError(
                "give an SQL statement, a saved question's name, or --list".into(),
            )
            .into())
        }
    };
    let store = open(&args.db.db)?;
    run_sql(&store, &sql, args.format, &mut out)?;
    out.flush()?;
    if reads_audit(&sql) && !holds_audit_events(&store) {
        eprintln!(
            "evforensics: note: this database holds no audit events (load an audit log with ingest)"
        );
    }
    Ok(EXIT_OK)
}

/// The statement a positional argument stands for, as sqlite3 users
/// expect: `-` is standard input, an existing `FILE.sql` is read, a saved
/// question's name is its SQL; a lone word that is none of these is a
/// mistyped name (not SQL to hand to SQLite for a syntax error).
fn sql_argument(arg: &str) -> anyhow::Result<Cow<'static, str>> {
    // The statement, and where it came from when not the argument itself.
    let (sql, whence) = if arg == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("reading SQL from standard input")?;
        (text, " from standard input".to_owned())
    } else if arg.ends_with(".sql") && Path::new(arg).is_file() {
        let text =
            std::fs::read_to_string(arg).with_context(|| format!("reading SQL from {arg}"))?;
        (text, format!(" in the file {arg}"))
    } else if let Some(sql) = saved(arg.trim()) {
        return Ok(Cow::Borrowed(sql));
    } else if is_lone_word(arg) && arg.ends_with(".sql") {
        return Err(UsageError(format!(
            "{arg}: no such file, and no saved question of that name"
        ))
        .into());
    } else if is_lone_word(arg) {
        return Err(no_saved_question(arg.trim()).into());
    } else {
        (arg.to_owned(), String::new())
    };
    if is_empty_sql(&sql) {
        return Err(UsageError(format!(
            "the SQL{whence} is empty: give a statement, a saved question's name (--list), FILE.sql or -"
        ))
        .into());
    }
    Ok(Cow::Owned(sql))
}

/// One word of name characters (`who-deleted-wat`, `notes.sql`): never a
/// statement SQLite would run.
fn is_lone_word(arg: &str) -> bool {
    let word = arg.trim();
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Nothing but white space and `--` comments.
fn is_empty_sql(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("--") || l == ";")
}

/// "no saved question X", with the nearest name when one is close.
fn no_saved_question(name: &str) -> UsageError {
    let nearest = SAVED_QUERIES
        .iter()
        .map(|(n, _)| (edit_distance(name, n), *n))
        .min();
    match nearest {
        Some((distance, n)) if distance <= (name.chars().count() / 3).max(2) => {
            UsageError(format!("no saved question {name}; did you mean {n}?"))
        }
        _ => UsageError(format!(
            "no saved question {name}; `evforensics query --list` shows them"
        )),
    }
}

/// A statement that reads the audit tables or views (`audit_events`,
/// `audit_deletions`, …).
fn reads_audit(sql: &str) -> bool {
    sql.contains("audit_")
}

/// Whether any audit event is loaded (a database without the table: no).
fn holds_audit_events(store: &Store) -> bool {
    store
        .connection()
        .query_row("SELECT EXISTS (SELECT 1 FROM audit_events)", [], |r| {
            r.get(0)
        })
        .unwrap_or(false)
}

pub(super) fn open(path: &Path) -> anyhow::Result<Store> {
    if !path.is_file() {
        bail!(
            "{}: no such database; create one with `evforensics ingest --db {} SOURCE…`",
            path.display(),
            path.display()
        );
    }
    // SQLite takes an empty file for an empty database: say what it is.
    if std::fs::metadata(path)
        .map(|m| m.len() == 0)
        .unwrap_or(false)
    {
        bail!(
            "{}: an empty file (0 bytes), not an evforensics database; create one with `evforensics ingest --db {} SOURCE…`",
            path.display(),
            path.display()
        );
    }
    let store = Store::open_read_only(path)
        .with_context(|| format!("opening database {} read-only", path.display()))?;
    // Belt and braces: the connection is read-only, and so is the session.
    store
        .connection()
        .execute_batch("PRAGMA query_only = ON")
        .context("setting the session read-only")?;
    Ok(store)
}

/// Runs one read-only statement and writes its rows in `format`.
pub fn run_sql(
    store: &Store,
    sql: &str,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let conn = store.connection();
    let mut stmt = conn.prepare(sql).context("in the SQL")?;
    if !stmt.readonly() {
        bail!("only statements that read are allowed: the database is opened read-only and evidence is not changed");
    }
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let mut rows = stmt.query([]).context("running the SQL")?;
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(&columns)?;
            while let Some(row) = rows.next()? {
                let mut record = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    let v = row.get_ref(i)?;
                    let cell = text_of(v).unwrap_or_default();
                    record.push(match v {
                        ValueRef::Text(_) => csv_text_cell(cell),
                        _ => cell,
                    });
                }
                w.write_record(&record)?;
            }
            w.flush()?;
        }
        Format::Json => {
            out.write_all(b"[")?;
            let mut first = true;
            while let Some(row) = rows.next()? {
                let mut obj = serde_json::Map::with_capacity(columns.len());
                for (i, c) in columns.iter().enumerate() {
                    obj.insert(c.clone(), json_of(row.get_ref(i)?));
                }
                out.write_all(if first { b"\n" } else { b",\n" })?;
                first = false;
                serde_json::to_writer(&mut *out, &serde_json::Value::Object(obj))?;
            }
            out.write_all(b"\n]\n")?;
        }
        Format::Table => {
            let mut cells: Vec<Vec<String>> = Vec::new();
            while let Some(row) = rows.next()? {
                let mut line = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    let text = text_of(row.get_ref(i)?).unwrap_or_else(|| "NULL".into());
                    line.push(cut(&text.replace(['\n', '\r', '\t'], " ")));
                }
                cells.push(line);
            }
            let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
            for line in &cells {
                for (w, c) in widths.iter_mut().zip(line) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let print = |out: &mut dyn Write, line: &[String]| -> io::Result<()> {
                let mut text = String::new();
                for (i, (c, w)) in line.iter().zip(&widths).enumerate() {
                    if i > 0 {
                        text.push_str("  ");
                    }
                    text.push_str(c);
                    if i + 1 < line.len() {
                        text.push_str(&" ".repeat(w - c.chars().count()));
                    }
                }
                writeln!(out, "{}", text.trim_end())
            };
            print(out, &columns)?;
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            print(out, &rule)?;
            for line in &cells {
                print(out, line)?;
            }
            writeln!(
                out,
                "({} row{})",
                cells.len(),
                if cells.len() == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(())
}

fn cut(s: &str) -> String {
    if s.chars().count() <= TABLE_CELL_MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(TABLE_CELL_MAX - 1).collect();
        t.push('…');
        t
    }
}

/// A value as text; `None` for NULL. BLOBs are lower-case hex.
fn text_of(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(hex(b)),
    }
}

fn json_of(v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(hex(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_saved_question_is_described_and_listed_in_queries() {
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/queries"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .map(|n| n.trim_end_matches(".sql").to_string())
                .collect();
        on_disk.sort();
        let listed: Vec<String> = SAVED_QUERIES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(listed, on_disk);
        for (name, sql) in SAVED_QUERIES {
            assert!(
                description(sql).len() > 10,
                "{name} needs a first-line description"
            );
        }
    }

    #[test]
    fn typos_of_saved_questions_are_named() {
        assert_eq!(
            no_saved_question("who-deleted-wat").0,
            "no saved question who-deleted-wat; did you mean who-deleted-what?"
        );
        assert_eq!(
            no_saved_question("oom").0,
            "no saved question oom; `evforensics query --list` shows them"
        );
        assert!(is_lone_word("who-deleted-wat"));
        assert!(is_lone_word(" notes.sql "));
        assert!(!is_lone_word("SELECT 1"));
        assert!(!is_lone_word("select*from events"));
        assert!(is_empty_sql("  \n-- nothing\n;\n"));
        assert!(!is_empty_sql("-- one\nSELECT 1"));
    }

    #[test]
    fn audit_questions_are_known_by_their_sql() {
        let audit: Vec<&str> = SAVED_QUERIES
            .iter()
            .filter(|(_, sql)| reads_audit(sql))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(
            audit,
            [
                "denied-requests-by-user",
                "exec-into-pods",
                "secret-access",
                "who-deleted-what"
            ]
        );
    }

    /// Every saved question is valid, read-only SQL against a new database.
    #[test]
    fn every_saved_question_runs_on_an_empty_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        // An existing empty file is made an evforensics database in place.
        std::fs::File::create(&path).unwrap();
        drop(Store::open(&path).unwrap());
        let store = open(&path).unwrap();
        for (name, sql) in SAVED_QUERIES {
            for format in [Format::Table, Format::Csv, Format::Json] {
                let mut out = Vec::new();
                run_sql(&store, sql, format, &mut out).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            }
        }
    }
}
