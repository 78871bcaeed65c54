//! A byte budget: a submitter reserves a request's bytes before it submits
//! and holds the [`Reservation`] until its consumer is done with the data,
//! so the bytes in flight (read, being read, or decoded and not yet taken)
//! never exceed the limit.

use std::sync::{Arc, Mutex, MutexGuard};

/// See the module docs.
#[derive(Debug)]
pub struct ByteBudget {
    limit: u64,
    used: Mutex<u64>,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            limit,
            used: Mutex::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        crate::sync::lock(&self.used)
    }

    /// Reserve `bytes` if they fit; a request larger than the whole budget
    /// is admitted when nothing else is reserved, so it still runs (alone).
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let mut used = self.lock();
        if *used > 0 && used.saturating_add(bytes) > self.limit {
            return None;
        }
        *used += bytes;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        *self.lock()
    }
}

/// Reserved bytes, released on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<ByteBudget>,
    bytes: u64,
}

impl Reservation {
    /// The bytes reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.budget.lock();
        *used = used.saturating_sub(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_limit_and_an_oversized_one_goes_alone() {
        let budget = ByteBudget::new(100);
        let big = budget.try_reserve(500).expect("alone, it is admitted");
        assert_eq!(budget.used(), 500);
        assert!(budget.try_reserve(1).is_none());
        drop(big);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(50).is_none());
        let b = budget.try_reserve(40).unwrap();
        assert_eq!((budget.used(), a.bytes() + b.bytes()), (100, 100));
        drop((a, b));
        assert_eq!(budget.used(), 0);
    }
}
