//! Pinned, NUMA-bound read buffers ("slabs") from the IO engine's iovec
//! memory, reused through a pool. The bytes in flight are bounded by the
//! reader's [`ByteBudget`](hf3fs_core::runtime::budget::ByteBudget).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

impl AsMut<[u8]> for Slab {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
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
}
