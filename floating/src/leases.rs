//! The lease table in memory and the seat accounting. No I/O: the server persists what this
//! table decides (see `persist.rs`).
//!
//! # Accounting
//!
//! A floating license grants `floating_seats` concurrent seats **of each feature**. A client
//! asks for a feature set (the names it needs, in any order); its lease holds one seat of every
//! feature in the set, and a checkout is granted only when every one of them has a free seat.
//! With N seats, at most N clients hold any one feature at a time, whatever sets they ask for:
//! two brokers asking for `{mqtt-server, support}` and a third for `{mqtt-server}` hold three
//! `mqtt-server` seats and two `support` seats. (The common case, every broker asking for the
//! same set, is "N clients per feature set".)
//!
//! A client holds at most one lease, and nobody takes over a live one: a checkout by a client
//! id that holds a lease which has not ended is refused ([`Refusal::Held`]), whatever set it
//! asks for. Only the holder of the lease's secret renews it (heartbeats) or releases it. So
//! clones of a broker (the same fingerprint, hence the same client id) can no longer take turns
//! on one seat by checking out in a loop, and nobody can release a victim's lease by checking
//! it out under the victim's public client id. A broker restarted after a crash (its secret
//! lost) gets a seat again when its old lease ends: at most one TTL. Once a client's lease has
//! ended (even if not culled yet) its checkout replaces it (the old seats count as free).
//! A borrowed lease holds its seats until it ends or is returned.

use std::collections::{HashMap, HashSet};

use subtle::ConstantTimeEq;
use tollgate_core::ClientId;

/// One lease, as the server keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The lease id (the same across renewals).
    pub id: u64,
    /// The client it is for.
    pub client_id: ClientId,
    /// The name the client gave (admin view only).
    pub client_name: String,
    /// The client's address at checkout (admin view only).
    pub address: String,
    /// The feature set, sorted and distinct.
    pub features: Vec<String>,
    /// Whether it is borrowed (not renewed by heartbeats).
    pub borrowed: bool,
    /// SHA-256 of the lease's secret.
    pub secret_digest: [u8; 32],
    /// When it was checked out.
    pub created_at: u64,
    /// When its current token was signed.
    pub issued_at: u64,
    /// When it ends unless renewed (exclusive).
    pub expires_at: u64,
    /// Heartbeats since checkout (not persisted).
    pub renewals: u64,
}

/// Why a checkout was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every seat of this feature is taken.
    NoSeat(String),
    /// The client id holds a live lease (a clone, or a restarted client that lost its
    /// secret): it ends at `expires_at` unless its holder renews it.
    Held {
        /// The live lease.
        lease_id: u64,
        /// When it ends unless renewed.
        expires_at: u64,
    },
}

/// What a granted checkout did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// A new lease.
    New(LeaseRecord),
    /// The client's ended lease (not culled yet) replaced by a new lease.
    Replaced {
        /// The lease given up.
        old: LeaseRecord,
        /// The new one.
        new: LeaseRecord,
    },
}

impl Checkout {
    /// The lease the client now holds.
    pub fn lease(&self) -> &LeaseRecord {
        match self {
            Checkout::New(l) | Checkout::Replaced { new: l, .. } => l,
        }
    }
}

/// A checkout as the table needs it.
#[derive(Clone, Debug)]
pub struct CheckoutSpec {
    /// Who.
    pub client_id: ClientId,
    /// Its name.
    pub client_name: String,
    /// Its address.
    pub address: String,
    /// The canonical feature set.
    pub features: Vec<String>,
    /// Borrowed?
    pub borrowed: bool,
    /// SHA-256 of the new secret.
    pub secret_digest: [u8; 32],
    /// Now (server clock).
    pub now: u64,
    /// The end of the lease.
    pub expires_at: u64,
}

/// Every live lease, by id and by client, with the seats each feature has in use.
#[derive(Debug, Default)]
pub struct Table {
    leases: HashMap<u64, LeaseRecord>,
    by_client: HashMap<ClientId, u64>,
    used: HashMap<String, u32>,
    next_id: u64,
    dirty: HashSet<u64>,
}

impl Table {
    /// A table holding `leases` (as loaded after a restart); new ids start after `next_id` and
    /// after every loaded id.
    pub fn load(leases: Vec<LeaseRecord>, next_id: u64) -> Self {
        let mut t = Table {
            next_id: next_id.max(1),
            ..Table::default()
        };
        for l in leases {
            t.next_id = t.next_id.max(l.id + 1);
            t.insert(l);
        }
        t
    }

    fn insert(&mut self, l: LeaseRecord) {
        for f in &l.features {
            *self.used.entry(f.clone()).or_insert(0) += 1;
        }
        self.by_client.insert(l.client_id, l.id);
        self.leases.insert(l.id, l);
    }

    fn remove(&mut self, id: u64) -> Option<LeaseRecord> {
        let l = self.leases.remove(&id)?;
        for f in &l.features {
            if let Some(n) = self.used.get_mut(f) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.used.remove(f);
                }
            }
        }
        if self.by_client.get(&l.client_id) == Some(&id) {
            self.by_client.remove(&l.client_id);
        }
        self.dirty.remove(&id);
        Some(l)
    }

    /// Forgets every lease (a standby keeps none: it loads them when it takes over).
    pub fn clear(&mut self) {
        *self = Table::default();
    }

    /// The id the next new lease gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Seats of `feature` in use.
    pub fn used(&self, feature: &str) -> u32 {
        self.used.get(feature).copied().unwrap_or(0)
    }

    /// Live leases.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Every lease, by id.
    pub fn list(&self) -> Vec<LeaseRecord> {
        let mut v: Vec<LeaseRecord> = self.leases.values().cloned().collect();
        v.sort_by_key(|l| l.id);
        v
    }

    /// The lease with this id.
    pub fn get(&self, id: u64) -> Option<&LeaseRecord> {
        self.leases.get(&id)
    }

    /// Grants a checkout if the client holds no live lease and every feature of the set has a
    /// free seat (`seats` per feature), counting the client's ended lease as given up.
    pub fn checkout(&mut self, spec: CheckoutSpec, seats: u32) -> Result<Checkout, Refusal> {
        let own = self
            .by_client
            .get(&spec.client_id)
            .and_then(|id| self.leases.get(id))
            .cloned();
        if let Some(old) = &own {
            if old.expires_at > spec.now {
                return Err(Refusal::Held {
                    lease_id: old.id,
                    expires_at: old.expires_at,
                });
            }
        }
        for f in &spec.features {
            let mine = own.as_ref().is_some_and(|o| o.features.contains(f));
            if self.used(f) - u32::from(mine) >= seats {
                return Err(Refusal::NoSeat(f.clone()));
            }
        }
        let new = LeaseRecord {
            id: self.next_id,
            client_id: spec.client_id,
            client_name: spec.client_name,
            address: spec.address,
            features: spec.features,
            borrowed: spec.borrowed,
            secret_digest: spec.secret_digest,
            created_at: spec.now,
            issued_at: spec.now,
            expires_at: spec.expires_at,
            renewals: 0,
        };
        self.next_id += 1;
        let old = own.and_then(|o| self.remove(o.id));
        self.insert(new.clone());
        Ok(match old {
            Some(old) => Checkout::Replaced { old, new },
            None => Checkout::New(new),
        })
    }

    /// Undoes a [`Table::checkout`] whose persistence failed.
    pub fn undo(&mut self, c: &Checkout) {
        match c {
            Checkout::New(l) => {
                self.remove(l.id);
            }
            Checkout::Replaced { old, new } => {
                self.remove(new.id);
                self.insert(old.clone());
            }
        }
    }

    /// Renews lease `id` if `secret_digest` is its secret's and it has not ended: it now runs
    /// until `now + ttl`. Borrowed leases are not renewed. `None` for an unknown lease, a wrong
    /// secret, an ended or a borrowed lease (all told to the client as "not found").
    pub fn renew(
        &mut self,
        id: u64,
        secret_digest: &[u8; 32],
        now: u64,
        ttl: u64,
    ) -> Option<LeaseRecord> {
        let l = self.leases.get_mut(&id)?;
        if !bool::from(l.secret_digest.ct_eq(secret_digest)) || l.borrowed || now >= l.expires_at {
            return None;
        }
        l.issued_at = now;
        l.expires_at = now + ttl;
        l.renewals += 1;
        self.dirty.insert(id);
        Some(l.clone())
    }

    /// Removes lease `id`: for its client (`Some(secret digest)`, which must match) or for an
    /// admin (`None`).
    pub fn release(&mut self, id: u64, secret_digest: Option<&[u8; 32]>) -> Option<LeaseRecord> {
        let l = self.leases.get(&id)?;
        if let Some(d) = secret_digest {
            if !bool::from(l.secret_digest.ct_eq(d)) {
                return None;
            }
        }
        self.remove(id)
    }

    /// Removes and returns every lease that has ended at `now`.
    pub fn cull(&mut self, now: u64) -> Vec<LeaseRecord> {
        let ended: Vec<u64> = self
            .leases
            .values()
            .filter(|l| l.expires_at <= now)
            .map(|l| l.id)
            .collect();
        ended.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// The leases renewed since the last call, with their new ends: what the next flush
    /// persists.
    pub fn take_dirty(&mut self) -> Vec<(u64, u64, u64)> {
        let ids: Vec<u64> = self.dirty.drain().collect();
        ids.into_iter()
            .filter_map(|id| {
                self.leases
                    .get(&id)
                    .map(|l| (id, l.issued_at, l.expires_at))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(client: u8, features: &[&str], now: u64) -> CheckoutSpec {
        CheckoutSpec {
            client_id: ClientId([client; 16]),
            client_name: format!("c{client}"),
            address: "127.0.0.1".into(),
            features: features.iter().map(|s| (*s).to_owned()).collect(),
            borrowed: false,
            secret_digest: [client; 32],
            now,
            expires_at: now + 60,
        }
    }

    #[test]
    fn seats_are_counted_per_feature() {
        let mut t = Table::load(Vec::new(), 1);
        assert!(t.checkout(spec(1, &["a", "b"], 0), 2).is_ok());
        assert!(t.checkout(spec(2, &["a"], 0), 2).is_ok());
        assert_eq!(
            t.checkout(spec(3, &["a"], 0), 2),
            Err(Refusal::NoSeat("a".into()))
        );
        assert!(t.checkout(spec(3, &["b"], 0), 2).is_ok());
        assert_eq!((t.used("a"), t.used("b")), (2, 2));
        assert_eq!(
            t.checkout(spec(4, &["b"], 0), 2),
            Err(Refusal::NoSeat("b".into()))
        );
    }

    #[test]
    fn a_client_holds_one_lease_and_nobody_takes_over_a_live_one() {
        let mut t = Table::load(Vec::new(), 1);
        let first = t.checkout(spec(1, &["a"], 0), 2).unwrap().lease().clone();
        // A clone (same client id), for the same set or another, while the lease is live.
        for (features, now) in [(&["a"][..], 5), (&["a", "b"][..], 6), (&["a"][..], 59)] {
            assert_eq!(
                t.checkout(spec(1, features, now), 2),
                Err(Refusal::Held {
                    lease_id: first.id,
                    expires_at: 60
                })
            );
        }
        assert_eq!(
            t.get(first.id).unwrap().secret_digest,
            [1; 32],
            "secret kept"
        );
        assert_eq!((t.used("a"), t.used("b"), t.len()), (1, 0, 1));
        // Ended (not culled yet): the client's checkout replaces it.
        let other = t.checkout(spec(1, &["a", "b"], 60), 2).unwrap();
        assert!(
            matches!(&other, Checkout::Replaced { old, new } if old.id == first.id && new.id != first.id)
        );
        assert_eq!((t.used("a"), t.used("b"), t.len()), (1, 1, 1));
        t.undo(&other);
        assert_eq!((t.used("a"), t.used("b"), t.len()), (1, 0, 1));
    }

    #[test]
    fn renew_release_cull() {
        let mut t = Table::load(Vec::new(), 10);
        let l = t.checkout(spec(1, &["a"], 0), 1).unwrap().lease().clone();
        assert_eq!(l.id, 10);
        assert!(t.renew(l.id, &[9; 32], 1, 60).is_none(), "wrong secret");
        assert_eq!(t.renew(l.id, &[1; 32], 30, 60).unwrap().expires_at, 90);
        assert_eq!(t.take_dirty(), vec![(10, 30, 90)]);
        assert!(t.take_dirty().is_empty());
        assert!(t.cull(89).is_empty());
        assert!(t.renew(l.id, &[1; 32], 90, 60).is_none(), "ended");
        assert_eq!(t.cull(90).len(), 1);
        assert_eq!(t.used("a"), 0);
        let l = t.checkout(spec(2, &["a"], 100), 1).unwrap().lease().clone();
        assert!(t.release(l.id, Some(&[1; 32])).is_none());
        assert!(t.release(l.id, Some(&[2; 32])).is_some());
        assert!(t.is_empty());
    }
}
