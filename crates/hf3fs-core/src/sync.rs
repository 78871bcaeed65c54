//! Locking helpers the runtime's parts share.

use std::sync::{Mutex, MutexGuard, Once};

use crate::fork;

/// Lock `m`, ignoring poison: every critical section in this crate leaves
/// its data consistent before anything in it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A value made once per process: on first use, and again in a forked
/// child, which never uses (nor drops) the value it inherited. Statics make
/// their slot lock free across `fork()` with [`PerProcess::guard_across_fork`].
pub(crate) struct PerProcess<T> {
    slot: Mutex<Option<(u64, T)>>,
    guarded: Once,
}

impl<T: Clone + Send + 'static> PerProcess<T> {
    pub const fn new() -> PerProcess<T> {
        PerProcess {
            slot: Mutex::new(None),
            guarded: Once::new(),
        }
    }

    /// Hold the slot's lock across every `fork()` (see [`fork`]); cheap
    /// after the first call. Never call it while holding another slot.
    pub fn guard_across_fork(&'static self) {
        self.guarded
            .call_once(|| fork::guard_across_fork(&self.slot));
    }

    /// This process's value, if it was made.
    pub fn get(&self) -> Option<T> {
        let generation = fork::generation();
        lock(&self.slot)
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    /// This process's value, made by `make` when there is none; a value a
    /// fork left behind goes to `inherited` (which must not lock or drop any
    /// of it: its owner's threads are not in this process). `make` runs
    /// under the slot's lock and must not take another slot.
    pub fn get_or_try_init<E>(
        &self,
        make: impl FnOnce() -> Result<T, E>,
        inherited: impl FnOnce(T),
    ) -> Result<T, E> {
        let generation = fork::generation();
        let mut slot = lock(&self.slot);
        if let Some((_, v)) = slot.as_ref().filter(|(g, _)| *g == generation) {
            return Ok(v.clone());
        }
        if let Some((_, stale)) = slot.take() {
            inherited(stale);
        }
        let value = make()?;
        *slot = Some((generation, value.clone()));
        Ok(value)
    }

    /// [`PerProcess::get_or_try_init`] for a `make` that cannot fail.
    pub fn get_or_init(&self, make: impl FnOnce() -> T, inherited: impl FnOnce(T)) -> T {
        match self.get_or_try_init(|| Ok::<T, std::convert::Infallible>(make()), inherited) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}
