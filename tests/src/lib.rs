//! # tollgate-tests
//!
//! The shared test vectors of the Tollgate wire formats (`tests/vectors/`, specified in
//! `core/SPEC.md`), the deterministic fixtures they are built from, and the checker that the
//! Rust tests run over them.
//!
//! - [`fixtures`]: the reference vendor keys, catalogue, customer, fingerprint, device key and
//!   times, and a builder for every reference artifact (the reference world is
//!   `tollgate_core::reference`, re-exported there, plus the variants only the vectors need).
//!   Everything is fixed: building twice gives the same bytes (ed25519 signatures are
//!   deterministic).
//! - [`vectors`]: every test case (valid and invalid), the files they are written to, and
//!   [`vectors::check_case`], which replays one case of `manifest.json` the way the C and Java
//!   suites do.
//! - [`render`]: decoded values as the JSON objects the manifest lists as expected fields.
//! - [`lease`]: the floating world (a floating server's usage license and device key, a broker,
//!   lease tokens) and the `lease` cases.
//! - [`usage`]: the reference host's hash-chained usage reports and journal, and the
//!   `usage-report` and `usage-journal` cases.
//!
//! Regenerate the committed vectors with `cargo run -p tollgate-tests --bin gen-vectors`;
//! `cargo test -p tollgate-tests` fails if they drift from what this crate generates.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod fixtures;
pub mod json;
pub mod lease;
pub mod render;
pub mod trust;
pub mod usage;
pub mod vectors;
