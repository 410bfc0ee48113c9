//! Timing of a live pull's phases on stderr, for scale runs
//! (`scripts/scale-live.sh`): off unless `EVF_TRACE` is set.

/// Writes `what` with the time to stderr when `EVF_TRACE` is set.
pub fn trace(what: &str) {
    if std::env::var_os("EVF_TRACE").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        eprintln!("evforensics trace {t:.3} {what}");
    }
}
