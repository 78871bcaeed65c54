//! An elastic pool of threads for blocking work: a thread starts only when
//! a task finds none idle (up to a fixed maximum) and ends after it has been
//! idle for a while, so a process that stops reading gives its threads back.
//! Pools belong to the process that started their threads: after `fork()`
//! the child starts its own on first use and never touches the parent's.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::sync::{lock, PerProcess};

/// A task for an [`Executor`].
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// Runs tasks on other threads.
pub trait Executor: Send + Sync + fmt::Debug {
    /// Run `task` some time soon on one of the executor's threads.
    fn spawn(&self, task: Task);
}

/// How long a thread with nothing to do waits before it ends. Starting a
/// thread costs ~20 µs, so one that restarts after 2 s of idleness costs
/// nothing measurable, while a process that stopped reading (a finished
/// epoch, a DataLoader between epochs) is back to its base thread count soon.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

struct Queue {
    tasks: VecDeque<Task>,
    threads: usize,
    idle: usize,
}

struct State {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// See the module docs.
pub struct ElasticPool {
    name: &'static str,
    max_threads: usize,
    idle_timeout: Duration,
    state: PerProcess<Arc<State>>,
}

impl fmt::Debug for ElasticPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElasticPool")
            .field("name", &self.name)
            .field("max_threads", &self.max_threads)
            .field("threads", &self.threads())
            .finish()
    }
}

impl ElasticPool {
    /// A pool of at most `max_threads` (at least one) threads named `name-N`.
    pub const fn new(name: &'static str, max_threads: usize) -> ElasticPool {
        ElasticPool {
            name,
            max_threads: if max_threads == 0 { 1 } else { max_threads },
            idle_timeout: IDLE_TIMEOUT,
            state: PerProcess::new(),
        }
    }

    /// The same pool with another idle timeout (tests).
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> ElasticPool {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Keep this pool's slot free across `fork()` (for pools that live for
    /// the whole process); see [`crate::fork::guard_across_fork`].
    pub fn guard_across_fork(&'static self) {
        self.state.guard_across_fork();
    }

    /// The most threads the pool runs.
    pub fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// Threads running now in this process.
    pub fn threads(&self) -> usize {
        self.state.get().map_or(0, |s| lock(&s.queue).threads)
    }

    /// This process's state, made on first use and again after `fork()`.
    fn current(&self) -> Arc<State> {
        self.state.get_or_init(
            || {
                Arc::new(State {
                    queue: Mutex::new(Queue {
                        tasks: VecDeque::new(),
                        threads: 0,
                        idle: 0,
                    }),
                    wake: Condvar::new(),
                })
            },
            // Inherited through fork(): its threads are not in this process
            // and a parent thread may have held its lock; never touch it.
            std::mem::forget,
        )
    }

    fn start_thread(&self, state: &Arc<State>, index: usize) -> bool {
        let s = state.clone();
        let idle_timeout = self.idle_timeout;
        std::thread::Builder::new()
            .name(format!("{}-{index}", self.name))
            .spawn(move || worker(&s, idle_timeout))
            .is_ok()
    }
}

impl Executor for ElasticPool {
    fn spawn(&self, task: Task) {
        let state = self.current();
        let index = {
            let mut q = lock(&state.queue);
            q.tasks.push_back(task);
            // Tasks beyond the idle threads need a thread of their own.
            let start = q.tasks.len() > q.idle && q.threads < self.max_threads;
            if start {
                q.threads += 1;
            }
            state.wake.notify_one();
            start.then_some(q.threads - 1)
        };
        if let Some(index) = index {
            if !self.start_thread(&state, index) {
                let orphan = {
                    let mut q = lock(&state.queue);
                    q.threads -= 1;
                    // No thread at all: the caller runs what is queued, so a
                    // process out of threads is slower, never stuck.
                    if q.threads == 0 {
                        std::mem::take(&mut q.tasks)
                    } else {
                        VecDeque::new()
                    }
                };
                for task in orphan {
                    run(task);
                }
            }
        }
    }
}

fn run(task: Task) {
    // A panicking task must not take the thread with it; whoever waits for
    // its result learns of the failure from the promise it dropped.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
}

fn worker(state: &State, idle_timeout: Duration) {
    loop {
        let task = {
            let mut q = lock(&state.queue);
            loop {
                if let Some(task) = q.tasks.pop_front() {
                    break task;
                }
                q.idle += 1;
                let (guard, waited) = state
                    .wake
                    .wait_timeout(q, idle_timeout)
                    .unwrap_or_else(|e| e.into_inner());
                q = guard;
                q.idle -= 1;
                if waited.timed_out() && q.tasks.is_empty() {
                    q.threads -= 1;
                    return;
                }
            }
        };
        run(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn threads_start_on_demand_up_to_the_maximum_and_end_when_idle() {
        let pool =
            ElasticPool::new("hf3fs-test-elastic", 3).with_idle_timeout(Duration::from_millis(100));
        assert_eq!(pool.threads(), 0);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..12 {
            let (running, peak, tx) = (running.clone(), peak.clone(), tx.clone());
            pool.spawn(Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            }));
        }
        for _ in 0..12 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(
            peak.load(Ordering::SeqCst),
            3,
            "three tasks at once, never more"
        );
        assert!(pool.threads() <= 3);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.threads() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pool.threads(), 0, "idle threads end");
        // And the pool starts again.
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || tx.send(7).unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    }

    #[test]
    fn a_panicking_task_does_not_kill_the_pool() {
        let pool = ElasticPool::new("hf3fs-test-panic", 1);
        pool.spawn(Box::new(|| panic!("task panics")));
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || tx.send(1).unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    }
}
