//! [`FeatureGate`]: feature checks that never wait, for hot paths and many threads.
//!
//! A [`crate::LicenseManager`] keeps its gate current: every change of the installed license,
//! of its verification or of the clock high-water mark is published to it. Readers take no
//! lock (a sequence lock over atomics) and write shared memory only to raise the clock
//! high-water mark, about once a second, so checks from many threads do not slow each other
//! down, and they never wait for a manager operation in progress.

use std::fmt;
use std::hint::spin_loop;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tollgate_core::model::{MAX_FEATURES, MAX_FEATURE_NAME};
use tollgate_core::Entitlement;

use crate::clock::Clock;

/// Words of a feature name, zero-padded.
const WORDS: usize = MAX_FEATURE_NAME.div_ceil(8);

type Name = [u64; WORDS];

/// `name` packed into words, or `None` when it is too long to be a feature name.
#[inline]
fn pack(name: &[u8]) -> Option<Name> {
    if name.len() > MAX_FEATURE_NAME {
        return None;
    }
    let mut bytes = [0u8; WORDS * 8];
    bytes[..name.len()].copy_from_slice(name);
    let mut words = [0u64; WORDS];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    Some(words)
}

/// One feature: its name, and the first second it is no longer usable (a subscription's
/// expiry; `u64::MAX` for perpetual and metered features). `repr(C)`: see [`GateLayout`].
#[derive(Default)]
#[repr(C)]
struct Slot {
    len: AtomicUsize,
    name: [AtomicU64; WORDS],
    active_until: AtomicU64,
}

/// The feature checks of one [`crate::LicenseManager`], detached from it: get it with
/// [`crate::LicenseManager::feature_gate`] and share it with any number of threads.
///
/// It answers exactly as [`crate::LicenseManager::has_feature`] does, which uses it: a feature
/// is usable when a license is installed and verified for this host, the clock was not set
/// back beyond the tolerance, the license is within its validity, and the feature exists and
/// has not expired. A check costs a few nanoseconds and never blocks.
///
/// Its memory is `repr(C)` and described by [`FeatureGate::layout`], so that a binding can
/// answer checks from shared memory without a call (the Java binding's `FeatureHandle`, which
/// reads it through a direct buffer with the same sequence-lock protocol).
#[repr(C)]
pub struct FeatureGate {
    /// The installed grant's rollback tolerance (published with the entitlement).
    rollback_tolerance: AtomicU64,
    /// Odd while the manager publishes a change.
    seq: AtomicU64,
    high_water: AtomicU64,
    valid_from: AtomicU64,
    valid_until: AtomicU64,
    count: AtomicUsize,
    features: [Slot; MAX_FEATURES],
    clock: Arc<dyn Clock>,
}

/// Byte offsets of a [`FeatureGate`]'s fields (native-endian atomics of 64 bits; `count` and
/// the slots' `len` are `usize`, 64 bits on the platforms the Java binding ships for), for a
/// binding that reads the gate from shared memory, and the protocol it must follow to answer
/// exactly as [`FeatureGate::has_feature_at`]:
///
/// 1. Raise `high_water` to `now` if `now` is larger (compare-and-set; never lower it).
/// 2. Read `seq` (acquire); if odd, retry.
/// 3. Refuse when `now + rollback_tolerance < high_water` (saturating), `now < valid_from` or
///    `now >= valid_until` (unsigned); else find the slot among the first `count` (at most
///    `max_features`) whose `len` and `name_words` words (the name's UTF-8 bytes,
///    zero-padded, little-endian words) match, and answer `now < active_until`.
/// 4. Acquire fence, read `seq` again: if it changed, retry from 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateLayout {
    /// Size of the whole gate in bytes (the readable region).
    pub size: usize,
    /// Offset of the sequence word (odd while a change is published).
    pub seq: usize,
    /// Offset of the clock high-water mark.
    pub high_water: usize,
    /// Offset of the rollback tolerance (seconds).
    pub rollback_tolerance: usize,
    /// Offset of the first second of validity.
    pub valid_from: usize,
    /// Offset of the first second after validity.
    pub valid_until: usize,
    /// Offset of the number of feature slots in use.
    pub count: usize,
    /// Offset of the first feature slot.
    pub features: usize,
    /// Size of one slot (slot `i` starts at `features + i * slot_size`).
    pub slot_size: usize,
    /// Offset of a slot's name length within the slot.
    pub slot_len: usize,
    /// Offset of a slot's name words within the slot.
    pub slot_name: usize,
    /// Offset of a slot's first unusable second within the slot.
    pub slot_active_until: usize,
    /// Words per name.
    pub name_words: usize,
    /// Number of slots.
    pub max_features: usize,
}

impl fmt::Debug for FeatureGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureGate")
            .field("features", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FeatureGate {
    /// The gate's memory layout (see [`GateLayout`]).
    pub fn layout() -> GateLayout {
        use std::mem::{offset_of, size_of};
        GateLayout {
            size: size_of::<FeatureGate>(),
            seq: offset_of!(FeatureGate, seq),
            high_water: offset_of!(FeatureGate, high_water),
            rollback_tolerance: offset_of!(FeatureGate, rollback_tolerance),
            valid_from: offset_of!(FeatureGate, valid_from),
            valid_until: offset_of!(FeatureGate, valid_until),
            count: offset_of!(FeatureGate, count),
            features: offset_of!(FeatureGate, features),
            slot_size: size_of::<Slot>(),
            slot_len: offset_of!(Slot, len),
            slot_name: offset_of!(Slot, name),
            slot_active_until: offset_of!(Slot, active_until),
            name_words: WORDS,
            max_features: MAX_FEATURES,
        }
    }

    /// The address of the gate's memory, described by [`FeatureGate::layout`]: valid as long
    /// as the gate. Readers use atomic loads only, and write nothing but `high_water` (raise
    /// only, by compare-and-set).
    pub fn as_ptr(&self) -> *const u8 {
        std::ptr::from_ref(self).cast()
    }

    /// A gate with nothing usable, reading `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>, rollback_tolerance: u64) -> Self {
        FeatureGate {
            clock,
            rollback_tolerance: AtomicU64::new(rollback_tolerance),
            seq: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
            valid_from: AtomicU64::new(u64::MAX),
            valid_until: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            features: std::array::from_fn(|_| Slot::default()),
        }
    }

    /// Publishes the verified entitlement (or none), the time floor (the clock high-water
    /// mark and the latest signed time seen; the gate keeps the later of it and what its
    /// checks have seen) and the rollback tolerance of the installed grant.
    ///
    /// Only the owning manager calls it, from its `&mut self` operations (and while being
    /// built), so there is never more than one writer.
    pub(crate) fn publish(
        &self,
        entitlement: Option<&Entitlement>,
        high_water: u64,
        rollback_tolerance: u64,
    ) {
        const R: Ordering = Ordering::Relaxed;
        let seq = self.seq.load(R);
        self.seq.store(seq.wrapping_add(1), R);
        fence(Ordering::Release);
        // Never lowered here: checks may have seen a later time than the manager's state
        // holds (only `reset_high_water` lowers it).
        self.high_water.fetch_max(high_water, R);
        self.rollback_tolerance.store(rollback_tolerance, R);
        match entitlement {
            Some(e) => {
                self.valid_from.store(e.valid_from(), R);
                self.valid_until.store(e.valid_until(), R);
                let names = e
                    .features()
                    .iter()
                    .filter_map(|f| Some((pack(f.name.as_bytes())?, f)));
                let mut count = 0;
                for (slot, (name, f)) in self.features.iter().zip(names) {
                    slot.len.store(f.name.len(), R);
                    for (w, v) in slot.name.iter().zip(name) {
                        w.store(v, R);
                    }
                    slot.active_until
                        .store(f.expires_at().unwrap_or(u64::MAX), R);
                    count += 1;
                }
                self.count.store(count, R);
            }
            None => {
                self.valid_from.store(u64::MAX, R);
                self.valid_until.store(0, R);
                self.count.store(0, R);
            }
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Whether feature `name` is usable now (by the manager's clock).
    ///
    /// Each reading of the clock later than the high-water mark raises the mark (without a
    /// lock), so a clock set back while the host runs closes the gate at the next check, not
    /// only at the manager's next operation; [`crate::LicenseManager::status`] then reports
    /// the rollback, and the manager's next state write records the mark.
    #[inline]
    pub fn has_feature(&self, name: &str) -> bool {
        let now = self.clock.now();
        self.observe(now);
        self.has_feature_at(name, now)
    }

    /// Raises the high-water mark to `now`. A load on the hot path; the read-modify-write
    /// only when the clock has moved past the mark (about once a second).
    #[inline]
    fn observe(&self, now: u64) {
        if now > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Lowers the high-water mark to `high_water`: only after the manager installed a new
    /// vendor-signed usage license whose signed time witnesses that a clock which ran ahead
    /// was corrected (see `LicenseManager::install`). Same single writer as `publish`.
    pub(crate) fn reset_high_water(&self, high_water: u64) {
        self.high_water.store(high_water, Ordering::Relaxed);
    }

    /// The latest clock reading seen: the published mark or a later one seen by a check.
    pub(crate) fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }

    /// Whether feature `name` is usable at `now` (Unix seconds).
    pub fn has_feature_at(&self, name: &str, now: u64) -> bool {
        let Some(key) = pack(name.as_bytes()) else {
            return false;
        };
        loop {
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 == 1 {
                spin_loop();
                continue;
            }
            let answer = self.check(name.len(), &key, now);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == seq {
                return answer;
            }
        }
    }

    /// The check itself, on values that may be torn by a concurrent publish (the caller then
    /// retries).
    #[inline]
    fn check(&self, len: usize, key: &Name, now: u64) -> bool {
        const R: Ordering = Ordering::Relaxed;
        if now.saturating_add(self.rollback_tolerance.load(R)) < self.high_water.load(R)
            || now < self.valid_from.load(R)
            || now >= self.valid_until.load(R)
        {
            return false;
        }
        let count = self.count.load(R).min(MAX_FEATURES);
        self.features[..count].iter().any(|slot| {
            slot.len.load(R) == len
                && slot.name.iter().zip(key).all(|(w, k)| w.load(R) == *k)
                && now < slot.active_until.load(R)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn packing() {
        assert_eq!(pack(b""), Some([0; WORDS]));
        assert_eq!(pack(b"ab").unwrap()[0], 0x6261);
        assert!(pack(&[b'a'; MAX_FEATURE_NAME]).is_some());
        assert!(pack(&[b'a'; MAX_FEATURE_NAME + 1]).is_none());
        assert_ne!(pack(b"abcdefgh1"), pack(b"abcdefgh2"));
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_layout_is_64_bit_words_with_the_clock_last() {
        let l = FeatureGate::layout();
        assert_eq!(
            (
                l.rollback_tolerance,
                l.seq,
                l.high_water,
                l.valid_from,
                l.valid_until,
                l.count
            ),
            (0, 8, 16, 24, 32, 40)
        );
        assert_eq!((l.features, l.slot_len, l.slot_name), (48, 0, 8));
        assert_eq!(l.slot_active_until, 8 + 8 * WORDS);
        assert_eq!(l.slot_size, 16 + 8 * WORDS);
        assert_eq!((l.name_words, l.max_features), (WORDS, MAX_FEATURES));
        // Then the clock (a fat `Arc`), which readers never touch.
        assert_eq!(l.size, l.features + MAX_FEATURES * l.slot_size + 16);
    }

    #[test]
    fn an_empty_gate_allows_nothing() {
        let gate = FeatureGate::new(Arc::new(ManualClock::new(10)), 60);
        assert!(!gate.has_feature("mqtt-server"));
        assert!(!gate.has_feature(""));
        gate.publish(None, 5, 60);
        assert!(!gate.has_feature_at("mqtt-server", 0));
    }
}
