//! Pinned, NUMA-bound read buffers ("slabs") from the IO engine's iovec
//! memory, reused through a pool, and the byte budget that bounds how much
//! data is in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use hf3fs_core::iov::IovMemory;

use crate::error::{Error, Result};

/// Slabs are sized in multiples of this, so a slab freed by one piece fits
/// the next piece of similar size (row groups of one dataset are alike);
/// 1 MiB also keeps `mlock` and shm bookkeeping per byte negligible.
const SLAB_GRANULE: usize = 1 << 20;

/// A pool of reusable slabs on one NUMA node.
#[derive(Debug)]
pub struct SlabPool {
    numa: i32,
    /// Free slabs kept for reuse, up to `keep_bytes` in all.
    free: Mutex<Vec<IovMemory>>,
    keep_bytes: usize,
    warned: AtomicBool,
}

impl SlabPool {
    /// A pool on `numa` (-1: no binding) keeping up to `keep_bytes` of free slabs.
    pub fn new(numa: i32, keep_bytes: usize) -> Arc<SlabPool> {
        Arc::new(SlabPool {
            numa,
            free: Mutex::new(Vec::new()),
            keep_bytes,
            warned: AtomicBool::new(false),
        })
    }

    /// A slab of at least `len` bytes.
    pub fn take(self: &Arc<Self>, len: usize) -> Result<Slab> {
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, m)| m.len() >= len)
                .min_by_key(|(_, m)| m.len())
                .map(|(i, _)| i);
            best.map(|i| free.swap_remove(i))
        };
        let memory = match reused {
            Some(m) => m,
            None => {
                let size = len.max(1).div_ceil(SLAB_GRANULE) * SLAB_GRANULE;
                let m = IovMemory::alloc(size, 0, self.numa)
                    .map_err(|e| Error::io("<read buffer>", None, e))?;
                if let Some(w) = m.pin_warning() {
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        eprintln!("hf3fs.dataset: {w}");
                    }
                }
                m
            }
        };
        Ok(Slab {
            memory: Some(memory),
            len,
            pool: self.clone(),
        })
    }

    fn give_back(&self, memory: IovMemory) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let kept: usize = free.iter().map(|m| m.len()).sum();
        if kept + memory.len() <= self.keep_bytes {
            free.push(memory);
        }
    }
}

/// One slab, owned by one piece; it returns to its pool when dropped (which
/// `Bytes::from_owner` does once the decoder lets go of every slice).
#[derive(Debug)]
pub struct Slab {
    memory: Option<IovMemory>,
    len: usize,
    pool: Arc<SlabPool>,
}

impl Slab {
    /// The slab's bytes, for filling.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &self.memory {
            // SAFETY: the slab owns the mapping exclusively (it came out of
            // the pool, nothing else holds it), it is at least `len` bytes
            // long and stays mapped while `self` lives; `&mut self` makes
            // this the only reference.
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.as_ptr(), self.len) },
            None => &mut [],
        }
    }
}

impl AsRef<[u8]> for Slab {
    fn as_ref(&self) -> &[u8] {
        match &self.memory {
            // SAFETY: as in `as_mut_slice`; once filled the slab is only read.
            Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr(), self.len) },
            None => &[],
        }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        if let Some(m) = self.memory.take() {
            self.pool.give_back(m);
        }
    }
}

/// A byte budget: pieces reserve their bytes before reading and release them
/// when the consumer has taken their rows.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: Mutex<u64>,
    changed: Condvar,
}

/// How often a wait for budget looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: Mutex::new(0),
            changed: Condvar::new(),
        })
    }

    /// Reserve `bytes`, waiting while that would exceed the limit (a piece
    /// larger than the whole budget goes alone). None when `stop` is set.
    pub fn reserve(self: &Arc<Self>, bytes: u64, stop: &AtomicBool) -> Option<Reservation> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + bytes > self.limit {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            used = self
                .changed
                .wait_timeout(used, STOP_POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *used += bytes;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reserved bytes, released on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(self.bytes);
        self.budget.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_are_reused_and_bounded() {
        let pool = SlabPool::new(-1, 4 << 20);
        let mut a = pool.take(1000).unwrap();
        a.as_mut_slice().fill(7);
        assert_eq!(a.as_ref().len(), 1000);
        let ptr = a.as_ref().as_ptr();
        drop(a);
        let b = pool.take(2000).unwrap();
        assert_eq!(b.as_ref().as_ptr(), ptr, "the freed slab is reused");
        let bytes = bytes::Bytes::from_owner(b);
        assert_eq!(bytes.len(), 2000);
    }

    #[test]
    fn budget_blocks_until_released_and_lets_oversized_go_alone() {
        let budget = Budget::new(100);
        let stop = AtomicBool::new(false);
        let big = budget.reserve(500, &stop).unwrap();
        assert_eq!(budget.used(), 500);
        let b2 = budget.clone();
        let t = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            let r = b2.reserve(50, &stop).unwrap();
            b2.used() + r.bytes - r.bytes
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(big);
        assert_eq!(t.join().unwrap(), 50);
        assert_eq!(budget.used(), 0);
        let _hold = budget.reserve(80, &stop).unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(budget.reserve(80, &stop).is_none());
    }
}
