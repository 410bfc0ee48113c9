//! `evforensics decode`: one stored value → JSON as kubectl shows it.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::{EXIT_FAILURE, EXIT_OK};
use crate::decode::{decode_event, strip_printed_newline, Encoding};

#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// A file holding one value as etcd stores it, optionally followed by one newline (`-` or nothing: standard input).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set metadata.resourceVersion to this etcd mod revision, as the API server does on read.
    #[arg(long, value_name = "REV")]
    revision: Option<i64>,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<i32> {
    let mut value = Vec::new();
    match args.file.as_deref() {
        None => std::io::stdin().read_to_end(&mut value).map(|_| ()),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut value).map(|_| ()),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut value).map(|_| ())),
    }
    .with_context(|| match &args.file {
        Some(p) => format!("reading {}", p.display()),
        None => "reading standard input".into(),
    })?;

    // What `etcdctl get --print-value-only` writes ends with a newline.
    let decoded = decode_event(strip_printed_newline(&value), args.revision);
    let Some(object) = decoded.object else {
        let what = match decoded.encoding {
            Encoding::Encrypted => "the value is encrypted at rest",
            _ => "the value is not a Kubernetes Event evforensics can decode",
        };
        eprintln!(
            "evforensics: {what}: {}",
            decoded.note.as_deref().unwrap_or("no detail")
        );
        return Ok(EXIT_FAILURE);
    };
    if decoded.unknown_fields {
        eprintln!("evforensics: warning: the value carries protobuf fields this version does not know (a newer Kubernetes?); they are not shown");
    }
    // Parsed back to be pretty-printed (keys keep their order: the crate
    // enables serde_json's preserve_order).
    let value = crate::decode::parse_object(&object)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    out.flush()?;
    Ok(EXIT_OK)
}
