//! Independent jobs of a study (a training run per fraction and seed, for example) run side by side
//! on the current rayon pool's threads, each job alone on its share of them.
//!
//! Why: lid-train's kernels split one small training step over the pool's threads, and at the
//! grokking model's sizes two threads on one step gain far less than 2x (the step is a chain of
//! small products with a join after each); two runs, each on one thread, share nothing and keep
//! both cores busy. Results cannot change: a job is a pure function of its inputs, and every kernel
//! it calls gives the same bits whatever the thread count (lid-train's rule), so a job computes the
//! same bytes on one thread beside another job as alone on all of them. Tests compare the outputs of
//! a study run on 1, 2 and 3 threads byte for byte.
//!
//! [`side_by_side`] takes the thread count from the pool it is called in (the process's pool, or the
//! one a `--threads` flag installed), never from the environment directly.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use crate::error::{Error, Result};

/// How [`side_by_side`] splits the current pool: `jobs` jobs at a time, each on a pool of
/// `threads_each` threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Jobs running at once (at least 1).
    pub jobs: usize,
    /// Threads of each job's pool (at least 1).
    pub threads_each: usize,
}

impl Split {
    /// `n_jobs` jobs on `threads` threads: as many jobs at once as there are threads (at most
    /// `n_jobs`, at least 1), the threads shared evenly (the remainder left idle).
    pub fn of(n_jobs: usize, threads: usize) -> Self {
        let threads = threads.max(1);
        let jobs = n_jobs.clamp(1, threads);
        Self {
            jobs,
            threads_each: threads / jobs,
        }
    }
}

/// Runs `work(index, item, log)` for every item of `items` and returns the results in item order.
/// With `max_jobs` (or the current pool) at 1 the items run one after another on the calling thread
/// and in the current pool, `log` called directly. Otherwise the current pool's threads are split
/// ([`Split::of`], at most `max_jobs` jobs at once): the items start in order, each job in a rayon
/// pool of its own, and their log lines reach `log` on the calling thread as they come. After a job
/// fails, no further job starts; the error of the first failed item (in item order) is returned.
///
/// # Errors
/// The first failing job's error (in item order); [`Error::Check`] when a thread pool cannot be
/// started.
///
/// # Panics
/// A panic in a job is raised again on the calling thread.
pub fn side_by_side<I, T, F>(
    items: &[I],
    max_jobs: usize,
    work: F,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<T>>
where
    I: Sync,
    T: Send,
    F: Fn(usize, &I, &mut dyn FnMut(&str)) -> Result<T> + Sync,
{
    let split = Split::of(items.len().min(max_jobs), rayon::current_num_threads());
    if split.jobs == 1 {
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| work(i, item, log))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let (sender, receiver) = mpsc::channel::<String>();
    let pools = (0..split.jobs)
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(split.threads_each)
                .build()
                .map_err(|e| Error::Check(format!("cannot start a thread pool: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    std::thread::scope(|scope| {
        for pool in pools {
            let sender = sender.clone();
            let (next, failed, results, work) = (&next, &failed, &results, &work);
            scope.spawn(move || {
                let mut send = |line: &str| {
                    // The receiver lives until every sender is gone.
                    let _ = sender.send(line.to_string());
                };
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let result = pool.install(|| work(i, item, &mut send));
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    // A poisoned lock means another job panicked; that panic is raised when the
                    // scope ends, so this result can be dropped.
                    if let Ok(mut slots) = results.lock() {
                        slots[i] = Some(result);
                    }
                }
            });
        }
        drop(sender);
        for line in receiver {
            log(&line);
        }
    });
    let slots = results
        .into_inner()
        .map_err(|_| Error::Check("a side-by-side job panicked".into()))?;
    let mut out = Vec::with_capacity(items.len());
    // An empty slot was not started because a job failed; its error is in another slot.
    for result in slots.into_iter().flatten() {
        out.push(result?);
    }
    match out.len() == items.len() {
        true => Ok(out),
        false => Err(Error::Check(
            "a side-by-side job did not run although none failed".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        #[allow(clippy::unwrap_used)] // a test fixture
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn the_pool_is_split_evenly() {
        assert_eq!(
            Split::of(10, 2),
            Split {
                jobs: 2,
                threads_each: 1
            }
        );
        assert_eq!(
            Split::of(2, 16),
            Split {
                jobs: 2,
                threads_each: 8
            }
        );
        assert_eq!(
            Split::of(3, 8),
            Split {
                jobs: 3,
                threads_each: 2
            }
        );
        assert_eq!(Split::of(0, 4).jobs, 1);
        assert_eq!(Split::of(5, 0).threads_each, 1);
    }

    #[test]
    fn results_come_in_item_order_with_every_log_line() {
        let items: Vec<u64> = (0..7).collect();
        for threads in [1, 2, 3] {
            let mut lines = Vec::new();
            let out = pool(threads)
                .install(|| {
                    side_by_side(
                        &items,
                        usize::MAX,
                        |i, &x, log| {
                            log(&format!("item {i}"));
                            // Each job sees its share of the pool.
                            Ok((x * x, rayon::current_num_threads()))
                        },
                        &mut |l| lines.push(l.to_string()),
                    )
                })
                .ok();
            let want: Vec<(u64, usize)> = items.iter().map(|x| (x * x, 1)).collect();
            assert_eq!(out, Some(want), "{threads} threads");
            lines.sort();
            assert_eq!(
                lines,
                (0..7).map(|i| format!("item {i}")).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_failed_job_stops_the_rest_and_its_error_is_returned() {
        let items: Vec<u64> = (0..50).collect();
        let started = AtomicUsize::new(0);
        let err = pool(2).install(|| {
            side_by_side(
                &items,
                usize::MAX,
                |_, &x, _| {
                    started.fetch_add(1, Ordering::SeqCst);
                    match x {
                        3 => Err(Error::Check("item 3 failed".into())),
                        _ => Ok(x),
                    }
                },
                &mut |_| {},
            )
        });
        assert!(matches!(err, Err(Error::Check(m)) if m == "item 3 failed"));
        // Item 3 and at most one item per other job after it.
        assert!(started.load(Ordering::SeqCst) < 50);
    }
}
