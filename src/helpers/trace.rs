//! Timing of a load's phases on stderr, for scale runs
//! (`scripts/scale-live.sh`, `scripts/scale-wal.sh`): off unless
//! `EVF_TRACE` is set.

/// Writes `what` with the time (and, where `/proc` tells it, the resident
/// set size) to stderr when `EVF_TRACE` is set.
pub fn trace(what: &str) {
    if std::env::var_os("EVF_TRACE").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let rss = resident_mib().map_or_else(String::new, |m| format!(" (rss {m} MiB)"));
        eprintln!("evforensics trace {t:.3} {what}{rss}");
    }
}

/// The process's resident set size in MiB, from `/proc/self/statm`
/// (its second field, in pages; 4 KiB pages assumed).
fn resident_mib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((pages * 4096) >> 20)
}
