//! Metric handles registered on first use and then reused without a lock.

use std::sync::OnceLock;

/// A fixed table of metric handles (`Counter`, `Histogram`, `Gauge`), one per label set of a
/// family, indexed by the caller (e.g. `grant × outcome`). A slot is registered with the
/// recorder the first time it is used — so series that never happen do not appear — and is
/// a lock-free load from then on: no key hashing, no allocation per increment.
pub(crate) struct Slots<T> {
    slots: Box<[OnceLock<T>]>,
}

impl<T> Slots<T> {
    /// A table of `len` empty slots.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            slots: (0..len).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Calls `use_handle` with the handle at `index`, registered by `register` if it is the
    /// first use. Without an index (a label value outside the table, such as an unusual HTTP
    /// status), the handle is registered on each call: correct, only slower.
    pub(crate) fn with(
        &self,
        index: Option<usize>,
        register: impl FnOnce() -> T,
        use_handle: impl FnOnce(&T),
    ) {
        match index.and_then(|i| self.slots.get(i)) {
            Some(slot) => use_handle(slot.get_or_init(register)),
            None => use_handle(&register()),
        }
    }
}

/// The position of `value` in `all`: the index of a label value in its bounded set.
pub(crate) fn position<T: PartialEq>(all: &[T], value: &T) -> Option<usize> {
    all.iter().position(|candidate| candidate == value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_slot_is_registered_once_and_an_unindexed_value_every_time() {
        let slots: Slots<u32> = Slots::new(2);
        let registered = Cell::new(0);
        let register = || {
            registered.set(registered.get() + 1);
            7
        };
        for _ in 0..3 {
            slots.with(Some(1), register, |v| assert_eq!(*v, 7));
        }
        assert_eq!(registered.get(), 1);
        slots.with(Some(5), register, |_| {});
        slots.with(None, register, |_| {});
        assert_eq!(registered.get(), 3);
    }
}
