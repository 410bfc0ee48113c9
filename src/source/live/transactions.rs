//! Sub revisions of the history read. The API gives a change's main
//! revision only. The changes of one transaction arrive in order in a
//! watch, so the sub revision is the position of a change among the changes
//! of its revision. A revision with one change under the prefix gets sub
//! revision 0, as every write of kube-apiserver has (one key per
//! transaction); one with several (a multi-key transaction of another
//! client) is read again with a watcher over the whole keyspace
//! ([`transaction_orders`]), which sees all of the transaction's changes in
//! order: exactly what etcd stores ([`number_transactions`]). One case
//! stays out of reach: a transaction that changes keys outside the prefix
//! *before* its single change under it (its sub revision is then counted
//! as 0).

use std::collections::HashMap;

use etcd_client::{Client, WatchOptions};

use super::calls::{next_watch_response, with_timeout};
use super::classify::{cancelled_by_server, classify};
use super::error::LiveError;
use super::held::Ready;
use super::options::LiveOptions;

/// The keys changed by each revision of `revs` (ascending), in the
/// order of their transaction: read with a watcher over the whole
/// keyspace, which sees every change of a transaction in order. Only
/// multi-key transactions need it (kube-apiserver never writes one). A
/// revision whose order a compaction took first gets a note in `lost`.
pub(super) async fn transaction_orders(
    client: &mut Client,
    opts: &LiveOptions,
    revs: &[i64],
    lost: &mut Vec<String>,
) -> Result<HashMap<i64, Vec<Vec<u8>>>, LiveError> {
    let endpoints = opts.location();
    let mut orders: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
    let mut next = 0;
    while let Some(&start) = revs.get(next) {
        let options = WatchOptions::new()
            .with_range(vec![0u8])
            .with_start_revision(start);
        let mut stream = with_timeout(opts, "watch", client.watch(vec![0u8], Some(options)))
            .await?
            .map_err(|e| classify(&endpoints, "watch", e))?;
        loop {
            let resp = next_watch_response(opts, &endpoints, &mut stream).await?;
            let compacted = resp.compact_revision();
            if compacted > 0 {
                while revs.get(next).is_some_and(|&r| r < compacted) {
                    lost.push(format!(
                        "the order of the changes of the multi-key transaction at revision {} could not be read (compacted during the pull): their sub revisions follow key order across key ranges and the transaction's order within one",
                        revs[next]
                    ));
                    next += 1;
                }
                break;
            }
            if resp.canceled() {
                return Err(cancelled_by_server(&endpoints, &resp));
            }
            if resp.events().is_empty() {
                continue;
            }
            let mut max_rev = start;
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let rev = kv.mod_revision();
                max_rev = max_rev.max(rev);
                if revs[next..].binary_search(&rev).is_ok() {
                    orders.entry(rev).or_default().push(kv.key().to_vec());
                }
            }
            // A batch holds whole revisions.
            while revs.get(next).is_some_and(|&r| r <= max_rev) {
                next += 1;
            }
            break;
        }
    }
    Ok(orders)
}

/// Gives the changes of each revision with several records in `ready`
/// (in merge order: revision, range, sub revision) their sub revisions: the
/// position of their key in the revision's transaction order when `orders`
/// holds it for every one of them, else 0, 1, … in merge order (key order
/// across ranges, the transaction's order within one), so that no two share
/// one. Then sorts by (revision, sub revision).
pub(super) fn number_transactions(ready: &mut [Ready], orders: &HashMap<i64, Vec<Vec<u8>>>) {
    for group in ready.chunk_by_mut(|a, b| a.rev.main == b.rev.main) {
        if group.len() < 2 {
            continue;
        }
        let order = orders.get(&group[0].rev.main);
        let positions: Option<Vec<usize>> = order.and_then(|order| {
            group
                .iter()
                .map(|ready| {
                    let key = crate::source::mvcc::leading_key(&ready.record)?;
                    order.iter().position(|k| k.as_slice() == key)
                })
                .collect()
        });
        match positions {
            Some(positions) => {
                for (ready, at) in group.iter_mut().zip(positions) {
                    ready.rev.sub = at as i64;
                }
            }
            None => {
                for (at, ready) in group.iter_mut().enumerate() {
                    ready.rev.sub = at as i64;
                }
            }
        }
    }
    ready.sort_by_key(|r| (r.rev.main, r.rev.sub, r.range));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::live::records::encode_tombstone;
    use crate::source::mvcc::Revision;

    #[test]
    fn transactions_get_distinct_sub_revisions_with_or_without_their_order() {
        // A record of `KeyValue{key}` only: the sub revisions go by its key.
        let ready_at = |range: usize, main: i64, sub: i64, key: &str| Ready {
            range,
            rev: Revision {
                main,
                sub,
                tombstone: false,
            },
            record: encode_tombstone(key.as_bytes()),
        };
        // Merge order: revision, range, the range's own sub revision.
        let mut ready: Vec<Ready> = vec![
            ready_at(0, 5, 0, "/e/a"),
            ready_at(2, 5, 0, "/e/c"),
            ready_at(0, 6, 0, "/e/a"),
            ready_at(1, 6, 0, "/e/b"),
            ready_at(1, 6, 1, "/e/b2"),
            ready_at(2, 7, 0, "/e/c"),
        ];
        // Revision 5's order is known (c first); 6's was compacted away.
        let orders = HashMap::from([(5, vec![b"/x".to_vec(), b"/e/c".to_vec(), b"/e/a".to_vec()])]);
        number_transactions(&mut ready, &orders);
        let got: Vec<(i64, i64, Vec<u8>)> = ready
            .iter()
            .map(|r| {
                let key = crate::source::mvcc::leading_key(&r.record).unwrap_or_default();
                (r.rev.main, r.rev.sub, key.to_vec())
            })
            .collect();
        let want = |m, s, k: &str| (m, s, k.as_bytes().to_vec());
        assert_eq!(
            got,
            vec![
                want(5, 1, "/e/c"),
                want(5, 2, "/e/a"),
                want(6, 0, "/e/a"),
                want(6, 1, "/e/b"),
                want(6, 2, "/e/b2"),
                want(7, 0, "/e/c"),
            ]
        );
    }
}
