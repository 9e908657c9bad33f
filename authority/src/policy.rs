//! The vendor's licensing decisions, as plain functions over plain data: no ledger, no clock,
//! no I/O. The fulfilment path ([`crate::Authority::fulfil`], [`crate::Authority::fulfil_many`])
//! reads the facts from the ledger, asks these functions, and writes what they decide; so the
//! CLI and the online service (which both go through it) decide alike, and each rule is
//! tested here on its own.
//!
//! | decision | function |
//! |---|---|
//! | may this grant answer a request for this product and model now? | [`admit`] |
//! | is a seat free? | [`seats_available`] |
//! | may this device run the license as a floating server? | [`floating_single`] |
//! | the lowest counter a freed device key may come back with | [`freed_floor`] |
//! | a refresh needs an active activation | [`refresh_needs_active`] |
//! | the same request again: replay its answer, or refuse it as superseded? | [`replay`] |
//! | a new request: continue the device's activation or take a new seat? | [`next_seat`] |
//! | is the license suspended or revoked? | [`standing`] |
//! | is the request's fingerprint strong enough to bind a license? | [`fingerprint_sufficient`] |
//! | may another seat be freed (deactivation, restore) within the transfer policy? | [`transfer_allowed`] |
//! | is a new seat a rapid transfer (soon after another seat was freed)? | [`rapid_transfer`] |
//! | does a usage report extend its host's hash chain, or is it a resend, a gap, a fork or a rewritten history? | [`usage_link`] |

use tollgate_core::{Component, DeploymentModel, Grant};

use crate::error::{AuthorityError, Result};
use crate::records::{LicenseStatus, TransferPolicy};

/// Whether license `license_id` in `status` may get a usage license. Refuses with
/// [`AuthorityError::LicenseSuspended`] and [`AuthorityError::LicenseRevoked`].
pub fn standing(license_id: u64, status: LicenseStatus) -> Result<()> {
    match status {
        LicenseStatus::Active => Ok(()),
        LicenseStatus::Suspended => Err(AuthorityError::LicenseSuspended(license_id)),
        LicenseStatus::Revoked => Err(AuthorityError::LicenseRevoked(license_id)),
    }
}

/// Whether a request's fingerprint may bind a license: at least `threshold` components (the
/// grant's k of the k-of-n match: fewer could never be matched honestly, and one claimed
/// value would unlock any machine) and at least `min_kinds` distinct component kinds.
/// Refuses with [`AuthorityError::WeakFingerprint`].
pub fn fingerprint_sufficient(
    components: &[Component],
    threshold: u8,
    min_kinds: u8,
) -> Result<()> {
    let mut kinds: Vec<u8> = components.iter().map(|c| c.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let (need_components, need_kinds) = (usize::from(threshold), usize::from(min_kinds));
    if components.len() < need_components || kinds.len() < need_kinds {
        return Err(AuthorityError::WeakFingerprint {
            components: components.len(),
            kinds: kinds.len(),
            need_components,
            need_kinds,
        });
    }
    Ok(())
}

/// The start of the transfer period that ends at `now` (exclusive: seats freed after it count).
pub fn transfer_window_start(policy: TransferPolicy, now: u64) -> u64 {
    now.saturating_sub(policy.period_secs)
}

/// Whether license `license_id` may free another seat (a deactivation or a restore) when
/// `recent` seats were freed within the policy's period before now. Refuses with
/// [`AuthorityError::TransferLimit`] once `max_transfers` were freed in the period.
pub fn transfer_allowed(license_id: u64, policy: TransferPolicy, recent: u64) -> Result<()> {
    match policy.max_transfers {
        Some(max) if recent >= u64::from(max) => Err(AuthorityError::TransferLimit {
            license_id,
            max,
            period_days: policy.period_secs / 86_400,
        }),
        _ => Ok(()),
    }
}

/// Whether a new seat taken at `now` is a rapid transfer: `last_freed` is the license's most
/// recently freed activation (id, freed at); returns its id when it was freed at most
/// `window_secs` before `now`.
pub fn rapid_transfer(last_freed: Option<(u64, u64)>, now: u64, window_secs: u64) -> Option<u64> {
    last_freed
        .filter(|&(_, at)| at <= now && now - at <= window_secs)
        .map(|(id, _)| id)
}

/// The device's active activation, as far as the decisions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveSeat {
    /// Its activation id.
    pub activation_id: u64,
    /// The counter of the last request answered for it.
    pub last_counter: u32,
}

/// A usage license already issued for the exact same request (same request id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorAnswer {
    /// The activation it was issued for.
    pub activation_id: u64,
    /// The request counter it answered.
    pub counter: u32,
    /// The deployment model it was issued for.
    pub model: DeploymentModel,
}

/// What a request that was not answered before gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatDecision {
    /// The device's active activation answers it (a refresh or upgrade round trip: no new
    /// seat).
    Continue,
    /// A new activation, if [`seats_available`] says a seat is free.
    NewSeat,
}

/// Whether `grant` may answer a request for `product` under `model` at `now`.
///
/// Refuses, in this order, with [`AuthorityError::WrongProduct`],
/// [`AuthorityError::ModelNotAllowed`], [`AuthorityError::LicenseNotYetValid`] and
/// [`AuthorityError::LicenseExpired`].
pub fn admit(grant: &Grant, product: &str, model: DeploymentModel, now: u64) -> Result<()> {
    if grant.product != product {
        return Err(AuthorityError::WrongProduct {
            licensed: grant.product.clone(),
            requested: product.into(),
        });
    }
    if !grant.models.allows(model) {
        return Err(AuthorityError::ModelNotAllowed { model });
    }
    if grant.not_before.is_some_and(|t| now < t) {
        return Err(AuthorityError::LicenseNotYetValid);
    }
    if grant.not_after.is_some_and(|t| now >= t) {
        return Err(AuthorityError::LicenseExpired);
    }
    Ok(())
}

/// Whether a new activation fits: `active` seats are taken of `max_activations`. Refuses with
/// [`AuthorityError::SeatsExhausted`].
pub fn seats_available(active: u64, max_activations: u32) -> Result<()> {
    if active >= u64::from(max_activations) {
        return Err(AuthorityError::SeatsExhausted {
            max: max_activations,
        });
    }
    Ok(())
}

/// Whether `activation` (the device's active activation, `None` for a new one) may be a
/// floating activation, given the license's active floating activations `floating`: each
/// floating license server lends all of the grant's `floating_seats`, so the license keeps the
/// total within them by having at most one. Refuses with
/// [`AuthorityError::FloatingActivationExists`] naming the other one.
pub fn floating_single(activation: Option<u64>, floating: &[u64]) -> Result<()> {
    match floating.iter().find(|id| Some(**id) != activation) {
        Some(&activation_id) => Err(AuthorityError::FloatingActivationExists { activation_id }),
        None => Ok(()),
    }
}

/// The highest counter a device key used before its activations were freed, from each freed
/// activation's last answered counter and the counter of the code that freed it: the key must
/// come back with a higher one. `None` when the key never had a freed activation.
pub fn freed_floor(freed: impl IntoIterator<Item = (u32, Option<u32>)>) -> Option<u32> {
    freed
        .into_iter()
        .map(|(last_counter, freed_counter)| last_counter.max(freed_counter.unwrap_or(0)))
        .max()
}

/// A refresh ([`crate::FulfilMode::Refresh`]) answers only a device with an active
/// activation: refuses with [`AuthorityError::NoActiveActivation`] otherwise.
pub fn refresh_needs_active(refresh: bool, active: Option<ActiveSeat>) -> Result<()> {
    if refresh && active.is_none() {
        return Err(AuthorityError::NoActiveActivation);
    }
    Ok(())
}

/// The same request (request `counter`, under `model`) arrives again, already answered with
/// `prior`. `Ok` means: send the stored answer again, byte for byte, taking no seat.
///
/// Refused with [`AuthorityError::StaleRequest`] when the answer's activation is no longer the
/// device's active one or a newer request of it was answered since (its answer was
/// superseded), and with [`AuthorityError::InvalidArgument`] when it was answered for another
/// model.
pub fn replay(
    prior: PriorAnswer,
    active: Option<ActiveSeat>,
    freed_floor: Option<u32>,
    counter: u32,
    model: DeploymentModel,
) -> Result<()> {
    match active {
        Some(a) if a.activation_id == prior.activation_id && prior.counter >= a.last_counter => {
            if prior.model != model {
                return Err(AuthorityError::invalid(format!(
                    "this request was already answered for the {} model",
                    prior.model.name()
                )));
            }
            Ok(())
        }
        Some(a) => Err(AuthorityError::StaleRequest {
            counter,
            latest: a.last_counter,
        }),
        None => Err(AuthorityError::StaleRequest {
            counter,
            latest: freed_floor.unwrap_or(0).saturating_add(1),
        }),
    }
}

/// A request not answered before, with request `counter`: the device's active activation
/// answers it when there is one and the counter is not lower than its last; otherwise a new
/// seat is needed, and a device key that was freed must come back with a counter above
/// `freed_floor`. Refuses an older counter with [`AuthorityError::StaleRequest`].
pub fn next_seat(
    active: Option<ActiveSeat>,
    freed_floor: Option<u32>,
    counter: u32,
) -> Result<SeatDecision> {
    match active {
        Some(a) if counter < a.last_counter => Err(AuthorityError::StaleRequest {
            counter,
            latest: a.last_counter,
        }),
        Some(_) => Ok(SeatDecision::Continue),
        None => match freed_floor {
            Some(floor) if counter <= floor => Err(AuthorityError::StaleRequest {
                counter,
                latest: floor.saturating_add(1),
            }),
            _ => Ok(SeatDecision::NewSeat),
        },
    }
}

/// One link of a host's signed usage journal, as the vendor keeps it: the report's sequence
/// number (from 1), the hash of the previous report (all zero for the first) and its own hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageLink {
    /// Monotonic sequence number, from 1.
    pub seq: u64,
    /// The hash of report `seq - 1` (32 zero bytes for report 1).
    pub prev_hash: [u8; 32],
    /// This report's hash.
    pub hash: [u8; 32],
}

/// What a usage report is to the chain the vendor holds for its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageVerdict {
    /// The next link: merge it.
    Extends,
    /// A report already merged, sent again (the same hash at the same sequence): nothing to do.
    Duplicate,
    /// Reports are missing between the chain's head and this one: flag, do not merge.
    Gap {
        /// The sequence number expected next.
        expected: u64,
        /// The one received.
        got: u64,
    },
    /// The next sequence number, but on another predecessor: two journals grew from one
    /// history (a cloned host or a restored backup). Flag, do not merge.
    Fork {
        /// The sequence number at which the chains part.
        seq: u64,
    },
    /// A sequence number already merged with another hash: the history was rewritten. Flag,
    /// do not merge.
    Rewritten {
        /// The sequence number rewritten.
        seq: u64,
    },
    /// A report the vendor dismissed (`resolve --dismiss`), sent again: never merged nor
    /// flagged again; the host may drop it. Never returned by [`usage_link`]: the ledger
    /// decides it from the report's resolved flags.
    Dismissed,
}

/// Judges `report` against the device's chain: `head` is the last merged link (`None` before
/// the first report) and `merged_at` the hash already merged at `report.seq`, if any. Only
/// [`UsageVerdict::Extends`] may be merged; a gap, a fork or a rewritten history is flagged,
/// never silently merged.
pub fn usage_link(
    head: Option<&UsageLink>,
    merged_at: Option<&[u8; 32]>,
    report: &UsageLink,
) -> UsageVerdict {
    let next = head.map_or(1, |h| h.seq.saturating_add(1));
    if report.seq < next {
        return match merged_at {
            Some(h) if *h == report.hash => UsageVerdict::Duplicate,
            _ => UsageVerdict::Rewritten { seq: report.seq },
        };
    }
    if report.seq > next {
        return UsageVerdict::Gap {
            expected: next,
            got: report.seq,
        };
    }
    let want_prev = head.map_or([0u8; 32], |h| h.hash);
    if report.prev_hash == want_prev {
        UsageVerdict::Extends
    } else {
        UsageVerdict::Fork { seq: report.seq }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::{Feature, FeatureKind, Models};

    fn grant() -> Grant {
        Grant {
            license_id: 1,
            revision: 1,
            product: "chariot".into(),
            customer: "ACME".into(),
            features: vec![Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            }],
            models: Models::of(&[DeploymentModel::Offline]),
            max_activations: 2,
            floating_seats: 0,
            not_before: Some(100),
            not_after: Some(200),
            fingerprint_threshold: 1,
            max_borrow_secs: 0,
            rollback_tolerance_secs: Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS,
            offline_refresh_secs: 0,
        }
    }

    const SEAT: ActiveSeat = ActiveSeat {
        activation_id: 7,
        last_counter: 3,
    };

    fn code(r: Result<impl std::fmt::Debug>) -> u32 {
        r.expect_err("refused").code()
    }

    #[test]
    fn admit_checks_product_model_and_window_in_order() {
        let g = grant();
        assert!(admit(&g, "chariot", DeploymentModel::Offline, 100).is_ok());
        assert!(admit(&g, "chariot", DeploymentModel::Offline, 199).is_ok());
        assert!(matches!(
            admit(&g, "other", DeploymentModel::Online, 0),
            Err(AuthorityError::WrongProduct { licensed, requested })
                if licensed == "chariot" && requested == "other"
        ));
        assert!(matches!(
            admit(&g, "chariot", DeploymentModel::Online, 0),
            Err(AuthorityError::ModelNotAllowed {
                model: DeploymentModel::Online
            })
        ));
        assert!(matches!(
            admit(&g, "chariot", DeploymentModel::Offline, 99),
            Err(AuthorityError::LicenseNotYetValid)
        ));
        assert!(matches!(
            admit(&g, "chariot", DeploymentModel::Offline, 200),
            Err(AuthorityError::LicenseExpired)
        ));
    }

    #[test]
    fn standing_refuses_suspended_and_revoked_distinctly() {
        assert!(standing(5, LicenseStatus::Active).is_ok());
        assert!(matches!(
            standing(5, LicenseStatus::Suspended),
            Err(AuthorityError::LicenseSuspended(5))
        ));
        assert!(matches!(
            standing(5, LicenseStatus::Revoked),
            Err(AuthorityError::LicenseRevoked(5))
        ));
        assert_eq!(code(standing(5, LicenseStatus::Suspended)), 324);
        assert_eq!(code(standing(5, LicenseStatus::Revoked)), 325);
    }

    fn comp(kind: u8, d: u8) -> Component {
        Component {
            kind,
            digest: [d; 8],
        }
    }

    #[test]
    fn fingerprint_needs_threshold_components_and_distinct_kinds() {
        let one = [comp(7, 1)];
        assert!(matches!(
            fingerprint_sufficient(&one, 1, 2),
            Err(AuthorityError::WeakFingerprint {
                components: 1,
                kinds: 1,
                need_components: 1,
                need_kinds: 2
            })
        ));
        assert_eq!(code(fingerprint_sufficient(&one, 3, 2)), 327);
        // Two components of the same kind are one kind.
        let same = [comp(3, 1), comp(3, 2)];
        assert!(fingerprint_sufficient(&same, 2, 2).is_err());
        assert!(fingerprint_sufficient(&same, 2, 1).is_ok());
        let three = [comp(1, 1), comp(2, 2), comp(3, 3)];
        assert!(fingerprint_sufficient(&three, 3, 2).is_ok());
        assert!(matches!(
            fingerprint_sufficient(&three, 4, 2),
            Err(AuthorityError::WeakFingerprint {
                components: 3,
                kinds: 3,
                need_components: 4,
                need_kinds: 2
            })
        ));
        assert!(fingerprint_sufficient(&[], 0, 0).is_ok());
    }

    #[test]
    fn transfers_are_limited_per_period() {
        let p = TransferPolicy {
            max_transfers: Some(2),
            period_secs: 10 * 86_400,
        };
        assert!(transfer_allowed(1, p, 0).is_ok());
        assert!(transfer_allowed(1, p, 1).is_ok());
        assert!(matches!(
            transfer_allowed(1, p, 2),
            Err(AuthorityError::TransferLimit {
                license_id: 1,
                max: 2,
                period_days: 10
            })
        ));
        assert_eq!(code(transfer_allowed(1, p, 9)), 326);
        let none = TransferPolicy {
            max_transfers: Some(0),
            ..p
        };
        assert!(transfer_allowed(1, none, 0).is_err());
        let unlimited = TransferPolicy {
            max_transfers: None,
            ..p
        };
        assert!(transfer_allowed(1, unlimited, u64::MAX).is_ok());
        assert_eq!(transfer_window_start(p, 100), 0);
        assert_eq!(transfer_window_start(p, 864_100), 100);
        assert_eq!(TransferPolicy::default(), TransferPolicy::DEFAULT);
        assert_eq!(TransferPolicy::DEFAULT.max_transfers, Some(4));
    }

    #[test]
    fn rapid_transfer_within_the_window_only() {
        assert_eq!(rapid_transfer(None, 1000, 60), None);
        assert_eq!(rapid_transfer(Some((4, 940)), 1000, 60), Some(4));
        assert_eq!(rapid_transfer(Some((4, 1000)), 1000, 60), Some(4));
        assert_eq!(rapid_transfer(Some((4, 939)), 1000, 60), None);
        // Freed "after" now (a clock difference between processes): not counted.
        assert_eq!(rapid_transfer(Some((4, 1001)), 1000, 60), None);
    }

    #[test]
    fn one_floating_activation_per_license() {
        assert!(floating_single(None, &[]).is_ok());
        assert!(floating_single(Some(4), &[4]).is_ok());
        assert!(matches!(
            floating_single(None, &[4]),
            Err(AuthorityError::FloatingActivationExists { activation_id: 4 })
        ));
        assert!(matches!(
            floating_single(Some(5), &[4, 5]),
            Err(AuthorityError::FloatingActivationExists { activation_id: 4 })
        ));
    }

    #[test]
    fn seats() {
        assert!(seats_available(0, 1).is_ok());
        assert!(seats_available(1, 2).is_ok());
        assert!(matches!(
            seats_available(2, 2),
            Err(AuthorityError::SeatsExhausted { max: 2 })
        ));
        assert!(matches!(
            seats_available(5, 2),
            Err(AuthorityError::SeatsExhausted { max: 2 })
        ));
    }

    #[test]
    fn freed_floor_is_the_highest_counter_used() {
        assert_eq!(freed_floor([]), None);
        assert_eq!(freed_floor([(3, None)]), Some(3));
        assert_eq!(freed_floor([(3, Some(5)), (4, None)]), Some(5));
        assert_eq!(freed_floor([(9, Some(2)), (4, None)]), Some(9));
    }

    #[test]
    fn refresh_requires_an_active_activation() {
        assert!(refresh_needs_active(false, None).is_ok());
        assert!(refresh_needs_active(true, Some(SEAT)).is_ok());
        assert!(matches!(
            refresh_needs_active(true, None),
            Err(AuthorityError::NoActiveActivation)
        ));
    }

    #[test]
    fn replay_of_the_newest_answer_only() {
        let prior = PriorAnswer {
            activation_id: 7,
            counter: 3,
            model: DeploymentModel::Offline,
        };
        assert!(replay(prior, Some(SEAT), None, 3, DeploymentModel::Offline).is_ok());
        // Answered for another model.
        let e = replay(prior, Some(SEAT), None, 3, DeploymentModel::Online);
        assert!(matches!(&e, Err(AuthorityError::InvalidArgument(m))
            if m == "this request was already answered for the offline model"));
        // Superseded by a newer request of the same activation.
        let newer = ActiveSeat {
            last_counter: 4,
            ..SEAT
        };
        assert!(matches!(
            replay(prior, Some(newer), None, 3, DeploymentModel::Offline),
            Err(AuthorityError::StaleRequest {
                counter: 3,
                latest: 4
            })
        ));
        // Another activation of the device is active now.
        let other = ActiveSeat {
            activation_id: 8,
            last_counter: 6,
        };
        assert!(matches!(
            replay(prior, Some(other), Some(3), 3, DeploymentModel::Offline),
            Err(AuthorityError::StaleRequest {
                counter: 3,
                latest: 6
            })
        ));
        // Its activation was freed.
        assert!(matches!(
            replay(prior, None, Some(3), 3, DeploymentModel::Offline),
            Err(AuthorityError::StaleRequest {
                counter: 3,
                latest: 4
            })
        ));
        assert!(matches!(
            replay(prior, None, None, 3, DeploymentModel::Offline),
            Err(AuthorityError::StaleRequest {
                counter: 3,
                latest: 1
            })
        ));
        assert_eq!(
            code(replay(prior, None, None, 3, DeploymentModel::Offline)),
            308
        );
    }

    #[test]
    fn next_seat_continues_or_takes_a_new_one() {
        assert_eq!(
            next_seat(Some(SEAT), None, 3).ok(),
            Some(SeatDecision::Continue)
        );
        assert_eq!(
            next_seat(Some(SEAT), Some(9), 4).ok(),
            Some(SeatDecision::Continue)
        );
        assert!(matches!(
            next_seat(Some(SEAT), None, 2),
            Err(AuthorityError::StaleRequest {
                counter: 2,
                latest: 3
            })
        ));
        assert_eq!(next_seat(None, None, 1).ok(), Some(SeatDecision::NewSeat));
        assert_eq!(
            next_seat(None, Some(3), 4).ok(),
            Some(SeatDecision::NewSeat)
        );
        assert!(matches!(
            next_seat(None, Some(3), 3),
            Err(AuthorityError::StaleRequest {
                counter: 3,
                latest: 4
            })
        ));
        assert!(matches!(
            next_seat(None, Some(u32::MAX), u32::MAX),
            Err(AuthorityError::StaleRequest {
                counter: u32::MAX,
                latest: u32::MAX
            })
        ));
    }

    #[test]
    fn usage_chains_extend_and_flag_gaps_forks_and_rewrites() {
        let link = |seq: u64, prev: u8, hash: u8| UsageLink {
            seq,
            prev_hash: [prev; 32],
            hash: [hash; 32],
        };
        assert_eq!(
            usage_link(None, None, &link(1, 0, 1)),
            UsageVerdict::Extends
        );
        assert_eq!(
            usage_link(None, None, &link(2, 1, 2)),
            UsageVerdict::Gap {
                expected: 1,
                got: 2
            }
        );
        assert_eq!(
            usage_link(None, None, &link(1, 9, 1)),
            UsageVerdict::Fork { seq: 1 }
        );
        let head = link(3, 2, 3);
        assert_eq!(
            usage_link(Some(&head), None, &link(4, 3, 4)),
            UsageVerdict::Extends
        );
        assert_eq!(
            usage_link(Some(&head), None, &link(4, 7, 4)),
            UsageVerdict::Fork { seq: 4 }
        );
        assert_eq!(
            usage_link(Some(&head), None, &link(6, 5, 6)),
            UsageVerdict::Gap {
                expected: 4,
                got: 6
            }
        );
        assert_eq!(
            usage_link(Some(&head), Some(&[2; 32]), &link(2, 1, 2)),
            UsageVerdict::Duplicate
        );
        assert_eq!(
            usage_link(Some(&head), Some(&[2; 32]), &link(2, 1, 8)),
            UsageVerdict::Rewritten { seq: 2 }
        );
        assert_eq!(
            usage_link(Some(&head), None, &link(3, 2, 3)),
            UsageVerdict::Rewritten { seq: 3 },
            "the head itself, unknown hash at its sequence: not a resend"
        );
    }
}
