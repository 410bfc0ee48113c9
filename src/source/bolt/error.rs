//! Fatal errors of the bbolt reader.
//!
//! A [`BoltError`] means an operation could not be done at all (no valid meta
//! page, a page that cannot be read, a lookup that may have missed its answer
//! in a damaged part). Findings a walk goes on after are [`Damage`] records,
//! in `damage.rs`. An error about one page names the page and its byte offset
//! in the file, so an SRE can look at the bytes with `xxd -s OFFSET`.

use super::damage::{Damage, DamageReason, MetaProblem};

/// Fatal errors of the bbolt reader.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    /// Neither meta page is usable; the file is not a (readable) bbolt file.
    #[error("no valid bbolt meta page: meta 0: {meta0}; meta 1: {meta1}")]
    NoValidMeta {
        /// Why meta page 0 was rejected.
        meta0: MetaProblem,
        /// Why meta page 1 was rejected.
        meta1: MetaProblem,
    },

    /// The file is a bbolt file written by a big-endian machine.
    #[error("big-endian bbolt file is not supported (magic 0xED0CDAED stored big-endian at offset {offset})")]
    BigEndian {
        /// File offset of the magic number that was found byte-swapped.
        offset: u64,
    },

    /// A page could not be read or failed validation.
    #[error("page {page} at offset {offset}: {reason}")]
    Page {
        /// Page id that was requested.
        page: u64,
        /// File offset of that page (`page × page_size`, saturated).
        offset: u64,
        /// What was wrong.
        reason: DamageReason,
    },

    /// The requested meta page is not valid, so it cannot be used.
    #[error("meta page {page} cannot be used: {problem}")]
    MetaUnusable {
        /// 0 or 1 (or the id that was asked for).
        page: u64,
        /// Why it is not valid.
        problem: MetaProblem,
    },

    /// A bucket listing or a lookup that found nothing ran into damage: the
    /// answer may be missing what was in the part that could not be read.
    #[error("bucket tree is damaged, the answer may be incomplete ({} problem(s), first: {})", .damage.len(), first_damage(.damage))]
    BucketTreeDamaged {
        /// Everything found wrong while searching.
        damage: Vec<Damage>,
    },
}

fn first_damage(damage: &[Damage]) -> String {
    damage
        .first()
        .map_or_else(|| "none".to_owned(), Damage::to_string)
}
