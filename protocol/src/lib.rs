//! # tollgate-protocol
//!
//! The wire protocol of Tollgate's HTTP APIs, shared by the clients (`tollgate-sdk`) and the
//! servers (`tollgate-server`, `tollgate-floating`) so that neither side owns it: paths, serde
//! bodies, refusal codes and the error envelope. No I/O, no server or client code.
//!
//! - [`online`]: the online activation service;
//! - [`floating`]: the floating license server;
//! - [`marketplace`]: the online service's marketplace activation (cloud instance identity);
//! - [`page`]: the License page's API (the host's own web page);
//! - [`shop`]: the online service's shop (catalogue, purchases, Stripe webhook);
//! - [`usage`]: metered usage reports sent to the online service;
//! - [`error`]: the error envelope both answer with.
//!
//! A test (`tests/wire.rs`) pins the exact JSON bytes of every body.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod floating;
pub mod marketplace;
pub mod online;
pub mod page;
pub mod shop;
pub mod usage;
