//! Every core, one way: rayon's pool. Reading transcripts, checking the stat list's
//! parts and stat-ing remembered folders all run on it; this module adds the one thing
//! rayon lacks, results handed back in order while later items are still worked on.

use std::collections::BTreeMap;
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

/// Which items the pool's threads may take.
struct Gate {
    /// The next item to hand out.
    next: usize,
    /// Items before this were handed to `done`.
    done_below: usize,
    /// The weight of the items handed out and not yet done.
    in_flight: u64,
    /// `done` failed: hand out nothing more.
    stop: bool,
}

/// Runs `job(i)` for every `i` in `0..n` on the pool's threads and hands each result to
/// `done` on the calling thread, in order of `i` (so `done` may hold what cannot cross
/// threads, such as a write transaction). Items are taken in order; a thread takes item
/// `i` only while the items taken and not yet done weigh at most `ahead` (by
/// `weight`), or when `i` is the very next one `done` waits for: results waiting their
/// turn stay bounded however many items there are. The first error of `done` stops the
/// run and is returned.
pub fn in_order<T: Send, E>(
    n: usize,
    weight: impl Fn(usize) -> u64 + Sync,
    ahead: u64,
    job: impl Fn(usize) -> T + Sync,
    mut done: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    let gate = Mutex::new(Gate {
        next: 0,
        done_below: 0,
        in_flight: 0,
        stop: false,
    });
    let turn = Condvar::new();
    let lock = || gate.lock().unwrap_or_else(PoisonError::into_inner);
    let (results, received) = mpsc::channel::<(usize, T)>();
    rayon::in_place_scope(|scope| {
        for _ in 0..rayon::current_num_threads().min(n) {
            let results = results.clone();
            let (gate, turn, job, weight) = (&gate, &turn, &job, &weight);
            scope.spawn(move |_| loop {
                let i = {
                    let mut g = gate.lock().unwrap_or_else(PoisonError::into_inner);
                    loop {
                        if g.stop || g.next >= n {
                            return;
                        }
                        let w = weight(g.next);
                        if g.next == g.done_below || g.in_flight + w <= ahead {
                            g.in_flight += w;
                            g.next += 1;
                            break g.next - 1;
                        }
                        g = turn.wait(g).unwrap_or_else(PoisonError::into_inner);
                    }
                };
                if results.send((i, job(i))).is_err() {
                    return;
                }
            });
        }
        drop(results);
        let mut waiting: BTreeMap<usize, T> = BTreeMap::new();
        let mut next = 0;
        let outcome = (|| {
            for (i, out) in received {
                waiting.insert(i, out);
                while let Some(out) = waiting.remove(&next) {
                    done(next, out)?;
                    {
                        let mut g = lock();
                        g.in_flight -= weight(next);
                        g.done_below = next + 1;
                    }
                    turn.notify_all();
                    next += 1;
                }
            }
            Ok(())
        })();
        if outcome.is_err() {
            lock().stop = true;
            turn.notify_all();
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn results_come_in_order_and_stay_within_the_window() {
        let held = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        let mut seen = Vec::new();
        let out: Result<(), ()> = in_order(
            200,
            |i| 1 + (i as u64 % 7),
            20,
            |i| {
                // Later items are quicker: without the gate they would all finish first.
                std::thread::sleep(std::time::Duration::from_micros(
                    ((200 - i) % 13) as u64 * 50,
                ));
                let now = held.fetch_add(1 + (i as u64 % 7), Ordering::SeqCst);
                most.fetch_max(now + 1 + (i as u64 % 7), Ordering::SeqCst);
                i * 2
            },
            |i, v| {
                held.fetch_sub(1 + (i as u64 % 7), Ordering::SeqCst);
                seen.push((i, v));
                Ok(())
            },
        );
        assert!(out.is_ok());
        assert_eq!(seen, (0..200).map(|i| (i, i * 2)).collect::<Vec<_>>());
        // The window, plus the one item `done` waits for when it is heavier.
        assert!(most.load(Ordering::SeqCst) <= 20 + 7, "{most:?}");
    }

    #[test]
    fn an_error_stops_the_run() {
        let taken = AtomicU64::new(0);
        let out = in_order(
            10_000,
            |_| 1,
            4,
            |i| {
                taken.fetch_add(1, Ordering::SeqCst);
                i
            },
            |i, _| if i == 5 { Err(i) } else { Ok(()) },
        );
        assert_eq!(out, Err(5));
        assert!(taken.load(Ordering::SeqCst) < 100);
    }

    #[test]
    fn nothing_to_do_is_done() {
        let out: Result<(), ()> = in_order(0, |_| 1, 1, |i| i, |_, _| panic!("no items"));
        assert!(out.is_ok());
    }
}
