//! # tollgate-jni
//!
//! The JNI bridge of Tollgate's Java binding (`bindings/java`, package `dev.tollgate`): the
//! native methods of `dev.tollgate.Native`, each a thin conversion around one call into
//! [`tollgate_sdk`]. It holds no licensing logic.
//!
//! | module | what it holds |
//! |---|---|
//! | `manager` | the `LicenseManager` handle and its entry points (`Java_dev_tollgate_Native_manager*`) |
//! | `online` | online activation, reactivation and deactivation; the `OnlineClient` handle (options, cancel) |
//! | `events` | `LicenseWatch`: license events reported to a Java `LicenseListener` |
//! | `floating` | the `FloatingClient` handle and its entry points |
//! | `config` | the `HostConfig` handle (built once from the Java fields) and the JSON file |
//! | `clock` | `ManualClock` handles and the clock a manager is opened with |
//! | `verify` | stateless verification of a usage license |
//! | `library` | version, error table, the panic test |
//! | `handles` | boxed values as `long` handles |
//! | `convert` | Java arguments → Rust values, Rust results → `dev.tollgate` value objects |
//! | `error` | `BridgeError` and the policy that throws it as a Java exception |
//!
//! ## Conventions
//!
//! - **Handles.** A `LicenseManager` crosses the boundary as a `long`: the address of a boxed
//!   cell holding an `RwLock<Option<LicenseManager>>` and the manager's feature gate. `close`
//!   empties it (releasing the state directory's lock at once); the box itself is freed only
//!   by the Java object's `Cleaner`, once the object is unreachable, so a call racing with
//!   `close` sees a closed manager instead of freed memory.
//! - **Shared memory.** `managerGate` and `managerClockWord` hand Java direct buffers over the
//!   manager's `FeatureGate` (layout: `gateLayout`, i.e. `FeatureGate::layout`) and its clock's
//!   reading word, so that `FeatureHandle.isEnabled()` answers without a call. The memory lives
//!   in the manager's cell, which the `Cleaner` frees only once the Java manager (which every
//!   handle references) is unreachable. This is the one place where Java repeats a piece of
//!   runtime logic: the gate's check, following the protocol documented on `GateLayout`.
//! - **Local references.** Value objects are built in local frames sized for their lists, so
//!   `-Xcheck:jni` never sees more local references than declared.
//! - **Times** cross as epoch seconds (`long`, `-1` for none), never as text.
//! - **Threads.** `hasFeature` takes no lock: it reads the manager's lock-free `FeatureGate`
//!   through an allocation-free fast path. Other queries (`status`, …) take the read lock and
//!   run concurrently; changes (`install`, `recordUsage`, …) take the write lock.
//! - **Errors.** An `SdkError` becomes the `dev.tollgate.LicenseException` subclass that
//!   `LicenseException.of(code, name, message)` picks for its stable code (core 100–128, host
//!   runtime 200–217 and 230–234). A closed handle becomes `IllegalStateException`.
//! - **Panics.** Every entry point runs inside `EnvUnowned::with_env` (the `hasFeature` fast
//!   path inside `catch_unwind`), which catches unwinding; a panic becomes a
//!   `java.lang.AssertionError` ("this is a bug") and never unwinds into the JVM.

mod clock;
mod config;
mod convert;
mod error;
mod events;
mod floating;
mod handles;
mod library;
mod manager;
mod online;
mod page;
mod verify;
