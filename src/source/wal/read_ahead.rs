//! Reading the WAL on a thread of its own: frames, CRC chain, segment
//! hashes and protobuf decoding go ahead of the replay on the other core,
//! in small bounded chunks (a few hundred entries in flight at most).

use std::sync::mpsc;

/// Items handed over at once (one channel message).
const CHUNK: usize = 128;
/// Chunks in flight: what bounds the memory of reading ahead.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Runs `iter` on a thread of its own and `each` on every item here, in
/// order; returns the iterator once exhausted (for its summary). If
/// `each` panics, the reader stops at its next chunk.
pub fn read_ahead<I>(iter: I, mut each: impl FnMut(I::Item)) -> I
where
    I: Iterator + Send,
    I::Item: Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Vec<I::Item>>(CHUNKS_IN_FLIGHT);
        let reader = scope.spawn(move || {
            let mut iter = iter;
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in iter.by_ref() {
                chunk.push(item);
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    if tx.send(full).is_err() {
                        return iter;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
            iter
        });
        for chunk in rx {
            chunk.into_iter().for_each(&mut each);
        }
        match reader.join() {
            Ok(iter) => iter,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_arrives_in_order_and_the_iterator_comes_back() {
        let mut seen = Vec::new();
        let rest = read_ahead((0..1000).collect::<Vec<_>>().into_iter(), |i| seen.push(i));
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(rest.len(), 0);
    }
}
