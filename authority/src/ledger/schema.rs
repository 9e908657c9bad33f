//! The ledger schema, as numbered migrations.
//!
//! One schema for every backend: the SQL sticks to what SQLite and PostgreSQL both accept
//! (`BIGINT`, `TEXT`, partial unique indexes, `UPDATE … RETURNING`), ids come from the
//! `sequences` table rather than a backend's auto-increment, and binary values are stored as
//! lower-case hex text. A migration, once released, is never edited: a change is a new one.

use tollgate_storage::Migration;

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: r#"
-- Named counters for sequential ids (licenses, activations, audit entries).
CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('license', 0), ('activation', 0), ('audit', 0);

-- Vendor signing keys. The private seed lives in keys/<key_id>.key, never here.
CREATE TABLE signing_keys (
    key_id     TEXT PRIMARY KEY,            -- 16 hex digits
    public_key TEXT NOT NULL UNIQUE,        -- 64 hex digits
    status     TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

-- Licenses. The license key itself is never stored: only its lookup id and auth secret
-- (a hash of the key, used to check usage requests' key proofs).
CREATE TABLE licenses (
    id         BIGINT PRIMARY KEY,
    key_lookup TEXT NOT NULL UNIQUE,        -- 16 hex digits
    key_auth   TEXT NOT NULL,               -- 64 hex digits
    product    TEXT NOT NULL,
    customer   TEXT NOT NULL,
    revision   INTEGER NOT NULL,            -- the current revision
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every signed revision of every license.
CREATE TABLE license_revisions (
    license_id BIGINT NOT NULL REFERENCES licenses (id),
    revision   INTEGER NOT NULL,
    grant_json TEXT NOT NULL,
    armored    TEXT NOT NULL,               -- TGLC:...
    key_id     TEXT NOT NULL REFERENCES signing_keys (key_id),
    issued_at  BIGINT NOT NULL,
    PRIMARY KEY (license_id, revision)
);

-- Activations (seats). At most one active activation per device key and license.
CREATE TABLE activations (
    id                BIGINT PRIMARY KEY,
    license_id        BIGINT NOT NULL REFERENCES licenses (id),
    device_key        TEXT NOT NULL,        -- 64 hex digits
    model             TEXT NOT NULL CHECK (model IN ('online', 'offline', 'floating')),
    status            TEXT NOT NULL CHECK (status IN ('active', 'deactivated', 'restored')),
    fingerprint_json  TEXT NOT NULL,
    product_version   TEXT NOT NULL,
    last_counter      BIGINT NOT NULL,
    last_request_id   TEXT NOT NULL,        -- 32 hex digits
    created_at        BIGINT NOT NULL,
    last_fulfilled_at BIGINT NOT NULL,
    freed_at          BIGINT,
    freed_counter     BIGINT                -- the deactivation code's counter
);
CREATE INDEX activations_license_status ON activations (license_id, status);
CREATE INDEX activations_license_device ON activations (license_id, device_key);
CREATE UNIQUE INDEX activations_one_active_per_device
    ON activations (license_id, device_key) WHERE status = 'active';

-- Every usage license issued, by the request it answered (for idempotent re-fulfilment).
CREATE TABLE usage_licenses (
    activation_id    BIGINT NOT NULL REFERENCES activations (id),
    request_id       TEXT NOT NULL,         -- 32 hex digits
    counter          BIGINT NOT NULL,
    model            TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    key_id           TEXT NOT NULL REFERENCES signing_keys (key_id),
    armored          TEXT NOT NULL,         -- TGUL:...
    issued_at        BIGINT NOT NULL,
    refresh_deadline BIGINT,
    PRIMARY KEY (activation_id, request_id)
);
CREATE INDEX usage_licenses_request ON usage_licenses (request_id);

-- What happened, when, by whom. Never holds a secret.
CREATE TABLE audit_log (
    id            BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    license_id    BIGINT,
    activation_id BIGINT,
    detail        TEXT NOT NULL             -- JSON object
);
CREATE INDEX audit_log_license ON audit_log (license_id, id);
"#,
    },
    Migration {
        version: 2,
        name: "license_active_count",
        sql: r#"
-- Seats in use, kept beside the license row (which a fulfilment locks first) so that the
-- seat check costs one row read however many activations a license has had.
ALTER TABLE licenses ADD COLUMN active_activations BIGINT NOT NULL DEFAULT 0;
UPDATE licenses SET active_activations = (
    SELECT COUNT(*) FROM activations a WHERE a.license_id = licenses.id AND a.status = 'active'
);
"#,
    },
    Migration {
        version: 3,
        name: "trust_and_policy",
        sql: r#"
-- A license's standing: suspended (reversible) or revoked (final) licenses get no usage
-- license; and its transfer policy (deactivations + restores per period; NULL: unlimited).
ALTER TABLE licenses ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended', 'revoked'));
ALTER TABLE licenses ADD COLUMN status_changed_at BIGINT;
ALTER TABLE licenses ADD COLUMN max_transfers BIGINT DEFAULT 4;
ALTER TABLE licenses ADD COLUMN transfer_period_secs BIGINT NOT NULL DEFAULT 31536000;
-- A new seat taken soon after another seat of the license was freed (the clone-by-backup
-- pattern): the freed activation it followed.
ALTER TABLE activations ADD COLUMN follows_activation BIGINT;
CREATE INDEX activations_license_freed ON activations (license_id, freed_at);
-- When the root-signed key list withdrew a signing key (hosts then distrust it).
ALTER TABLE signing_keys ADD COLUMN withdrawn_at BIGINT;
-- The root-signed certificates (TGKC) of the signing keys, one per key and product.
CREATE TABLE key_certificates (
    key_id    TEXT NOT NULL REFERENCES signing_keys (key_id),
    product   TEXT NOT NULL,
    armored   TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, product)
);
-- Every root-signed key list (TGKL) issued, per product; the highest sequence is current.
CREATE TABLE key_lists (
    product   TEXT NOT NULL,
    sequence  BIGINT NOT NULL,
    armored   TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (product, sequence)
);
"#,
    },
    Migration {
        version: 4,
        name: "marketplace_instances",
        sql: r#"
-- Cloud marketplace seats: one row per activation made from a cloud's signed instance
-- identity, binding it to the instance. While `status` is 'active' the (cloud, instance) pair
-- holds exactly one seat; it is freed ('gone') once its refresh deadline has passed without a
-- refresh, or ('replaced') when the same instance comes back with a new device key.
CREATE TABLE marketplace_instances (
    activation_id    BIGINT PRIMARY KEY REFERENCES activations (id),
    license_id       BIGINT NOT NULL REFERENCES licenses (id),
    cloud            TEXT NOT NULL,
    instance_id      TEXT NOT NULL,
    product_code     TEXT NOT NULL,
    device_key       TEXT NOT NULL,           -- 64 hex digits
    status           TEXT NOT NULL CHECK (status IN ('active', 'gone', 'replaced')),
    refresh_deadline BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX marketplace_one_seat_per_instance
    ON marketplace_instances (cloud, instance_id) WHERE status = 'active';
CREATE INDEX marketplace_deadline ON marketplace_instances (status, refresh_deadline);
"#,
    },
    Migration {
        version: 5,
        name: "commerce",
        sql: r#"
-- Purchases made through the online service's shop (Stripe Checkout): a new license, or an
-- upgrade of `license_id`. The purchase token is never stored, only its SHA-256; the new
-- license's key only sealed under the service's delivery secret (kept outside the ledger).
INSERT INTO sequences (name, value) VALUES ('purchase', 0);
CREATE TABLE purchases (
    id          BIGINT PRIMARY KEY,
    token_hash  TEXT NOT NULL,              -- 64 hex digits
    kind        TEXT NOT NULL CHECK (kind IN ('new', 'upgrade')),
    product     TEXT NOT NULL,
    license_id  BIGINT REFERENCES licenses (id),
    email       TEXT NOT NULL,
    order_json  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'awaiting_payment', 'completed',
                                               'failed', 'expired', 'needs_attention')),
    session_id  TEXT,
    revision    INTEGER,                    -- the license revision the purchase produced
    key_sealed  TEXT,                       -- hex
    note        TEXT,
    customer    TEXT,                       -- the payment provider's customer (metered billing)
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX purchases_session ON purchases (session_id);
-- Every payment provider event received, by its id: a redelivery changes nothing.
CREATE TABLE payment_events (
    event_id    TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    purchase_id BIGINT,
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
"#,
    },
    Migration {
        version: 6,
        name: "usage",
        sql: r#"
-- Metered usage reported by hosts (TGUR reports, online or from an offline journal). Every
-- report received is kept, once per (device key, seq, hash), with the verdict on its link:
-- only 'merged' reports count; a gap, a fork or a rewritten history is kept and flagged.
CREATE TABLE usage_reports (
    device_key  TEXT NOT NULL,              -- 64 hex digits
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,              -- 64 hex digits
    license_id  BIGINT NOT NULL REFERENCES licenses (id),
    prev_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,            -- the host's clock
    received_at BIGINT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('merged', 'gap', 'fork', 'rewritten')),
    armored     TEXT NOT NULL,              -- TGUR:...
    PRIMARY KEY (device_key, seq, hash)
);
CREATE UNIQUE INDEX usage_reports_one_merged ON usage_reports (device_key, seq)
    WHERE verdict = 'merged';
CREATE INDEX usage_reports_license ON usage_reports (license_id, verdict);
-- The head of each device key's merged chain.
CREATE TABLE usage_chains (
    device_key TEXT PRIMARY KEY,
    license_id BIGINT NOT NULL REFERENCES licenses (id),
    head_seq   BIGINT NOT NULL,
    head_hash  TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Merged units per license, feature and metering period.
CREATE TABLE usage_totals (
    license_id   BIGINT NOT NULL REFERENCES licenses (id),
    feature      TEXT NOT NULL,
    period       TEXT NOT NULL,             -- day, month, year
    period_start BIGINT NOT NULL,
    units        BIGINT NOT NULL,
    reports      BIGINT NOT NULL,           -- merged reports that added to it
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (license_id, feature, period, period_start)
);
-- Links that were not merged (gap, fork, rewritten), for the vendor to resolve, and merged
-- reports' entries that were not billed (not_metered: the feature is no metered feature of
-- the license with that period). Resolved when the same report later extends the chain
-- (resolution 'merged'), or by the vendor ('dismissed', 'accepted').
INSERT INTO sequences (name, value) VALUES ('usage_flag', 0);
CREATE TABLE usage_flags (
    id          BIGINT PRIMARY KEY,
    license_id  BIGINT NOT NULL REFERENCES licenses (id),
    device_key  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('gap', 'fork', 'rewritten', 'not_metered')),
    detail      TEXT NOT NULL,              -- JSON object
    flagged_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution  TEXT CHECK (resolution IN ('merged', 'dismissed', 'accepted', 'superseded'))
);
CREATE INDEX usage_flags_license ON usage_flags (license_id, id);
CREATE INDEX usage_flags_report ON usage_flags (device_key, seq, hash);
-- One billing meter event to send per merged (license, feature, period, device, seq): the
-- identifier is the payment provider's idempotency key, so a resend never bills twice. A
-- row is marked sent only once the provider accepted it; 'unbillable' (the license has no
-- billing customer) and 'expired' (older than the provider takes) are final, never sent.
CREATE TABLE usage_outbox (
    identifier      TEXT PRIMARY KEY,
    license_id      BIGINT NOT NULL REFERENCES licenses (id),
    feature         TEXT NOT NULL,
    period          TEXT NOT NULL,
    period_start    BIGINT NOT NULL,
    device_key      TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    units           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'unbillable', 'expired'))
);
CREATE INDEX usage_outbox_due ON usage_outbox (status, next_attempt_at);
"#,
    },
];

/// Every foreign key of the schema, as (child table, parent table). The PostgreSQL driver
/// groups deferred inserts into multi-row statements and keeps each row behind the rows of
/// the tables it references (`Postgres::with_multi_row_inserts`); a test checks that this
/// list is exactly the `REFERENCES` clauses in [`MIGRATIONS`].
pub(crate) const FOREIGN_KEYS: &[(&str, &str)] = &[
    ("license_revisions", "licenses"),
    ("license_revisions", "signing_keys"),
    ("activations", "licenses"),
    ("usage_licenses", "activations"),
    ("usage_licenses", "signing_keys"),
    ("key_certificates", "signing_keys"),
    ("marketplace_instances", "activations"),
    ("marketplace_instances", "licenses"),
    ("purchases", "licenses"),
    ("usage_reports", "licenses"),
    ("usage_chains", "licenses"),
    ("usage_totals", "licenses"),
    ("usage_flags", "licenses"),
    ("usage_outbox", "licenses"),
];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_foreign_key_list_is_the_schemas() {
        let mut found = Vec::new();
        for m in MIGRATIONS {
            let mut table = "";
            for line in m.sql.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let ["CREATE" | "ALTER", "TABLE", name, ..] = words[..] {
                    table = name;
                }
                if let Some(at) = words.iter().position(|w| *w == "REFERENCES") {
                    found.push((table, words[at + 1]));
                }
            }
        }
        let mut expected = FOREIGN_KEYS.to_vec();
        expected.sort_unstable();
        found.sort_unstable();
        assert_eq!(found, expected);
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }
}
