//! Records in free pages: copy-on-write leaves that bbolt released.
//!
//! bbolt never updates a page in place: a changed leaf is written to a new
//! page and the old one freed. `etcdctl snapshot save` copies free pages
//! byte for byte (`tx.WriteTo`), so a snapshot still holds older leaves of
//! the `key` bucket — revisions that compaction removed from the tree. Pages
//! that damage cut off from the tree are found the same way.
//!
//! A free page is taken as a `key`-bucket leaf when it passes the reader's
//! page checks (header id, flags, element bounds), is a leaf, and every key
//! is an etcd revision key. Anything else (other buckets' leaves, branches,
//! half-overwritten pages) is skipped without being reported: free pages
//! hold leftovers by nature.

use super::bolt::{BoltDb, PageKind, ReadAt};
use super::mvcc::Revision;

/// What a scan of the free pages found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreePageScan {
    /// Pages not reachable from the tree in use.
    pub free_pages: u64,
    /// Of those, pages recognized as `key`-bucket leaves.
    pub key_leaves: u64,
}

/// Calls `f(page id, revision, value)` for every entry of every free page
/// that is a `key`-bucket leaf, in page order.
pub fn for_each_free_key_entry<R: ReadAt>(
    db: &BoltDb<R>,
    mut f: impl FnMut(u64, Revision, &[u8]),
) -> FreePageScan {
    let map = db.page_map();
    let mut scan = FreePageScan::default();
    for id in map.free_page_ids() {
        scan.free_pages += 1;
        let Ok(page) = db.read_page(id) else { continue };
        if page.kind() != PageKind::Leaf {
            continue;
        }
        let view = page.view();
        let mut entries = Vec::with_capacity(usize::from(view.count()));
        let all_revisions = (0..view.count()).all(|i| match view.leaf_element(i) {
            Ok(e) if !e.is_bucket() => match Revision::parse(e.key) {
                Ok(rev) => {
                    entries.push((rev, e.value));
                    true
                }
                Err(_) => false,
            },
            _ => false,
        });
        if !all_revisions || entries.is_empty() {
            continue;
        }
        scan.key_leaves += 1;
        for (rev, value) in entries {
            f(id, rev, value);
        }
    }
    scan
}
