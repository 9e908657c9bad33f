//! `tollgate_config`: what the host application tells Tollgate about itself.

use std::ffi::c_char;

use tollgate_sdk::tollgate_core::ComponentKind;
use tollgate_sdk::HostConfig;

use crate::boundary::{arg_bytes, arg_mut, arg_out, arg_ref, arg_str, result_boundary};
use crate::error::{tollgate_result, Failure};

/// Component kind: the machine id (`/etc/machine-id`).
pub const TOLLGATE_COMPONENT_MACHINE_ID: u8 = 1;
/// Component kind: the DMI product UUID.
pub const TOLLGATE_COMPONENT_DMI_PRODUCT_UUID: u8 = 2;
/// Component kind: the MAC address of a physical network interface.
pub const TOLLGATE_COMPONENT_MAC: u8 = 3;
/// Component kind: the root disk's serial or id.
pub const TOLLGATE_COMPONENT_ROOT_DISK: u8 = 4;
/// Component kind: the host name.
pub const TOLLGATE_COMPONENT_HOSTNAME: u8 = 5;
/// Component kind: a container or workload id supplied by the host application.
pub const TOLLGATE_COMPONENT_WORKLOAD: u8 = 6;
/// Component kind: a cloud instance id.
pub const TOLLGATE_COMPONENT_CLOUD_INSTANCE: u8 = 7;
/// Component kind: an id supplied by the operator.
pub const TOLLGATE_COMPONENT_OPERATOR: u8 = 8;

/// The product configuration a manager is opened with: the vendor's ROOT public key (compiled
/// into the product), product id and version, fingerprint salt, optional key certificates and
/// key list, and how the host's fingerprint is built.
///
/// Made with `tollgate_config_new` or `tollgate_config_from_json`, freed with
/// `tollgate_config_free`. Opening a manager copies it, so it may be freed right after.
///
/// Thread safety: the `tollgate_config_add_…`/`_set_…` functions change it and need exclusive
/// access; once built it may be used by any number of threads at once (functions taking a
/// `const tollgate_config *` only read it).
pub struct tollgate_config {
    pub(crate) inner: HostConfig,
}

fn component_kind(k: u8) -> Result<ComponentKind, Failure> {
    ComponentKind::from_u8(k)
        .ok_or_else(|| Failure::invalid(&format!("{k} is not a fingerprint component kind")))
}

fn new_config(inner: HostConfig, out: *mut *mut tollgate_config) {
    // SAFETY: the callers checked `out` non-NULL; the C caller guarantees it is writable.
    unsafe { out.write(Box::into_raw(Box::new(tollgate_config { inner }))) };
}

/// The vendor root argument: exactly 32 bytes.
///
/// # Safety
///
/// `root` is NULL or valid for `root_len` bytes.
unsafe fn root_arg(root: *const u8, root_len: usize) -> Result<[u8; 32], Failure> {
    // SAFETY: forwarded from the caller.
    let root = unsafe { arg_bytes(root, root_len) }?;
    root.try_into().map_err(|_| {
        Failure::invalid(&format!(
            "the vendor root public key is 32 bytes (TOLLGATE_VENDOR_ROOT), not {}",
            root.len()
        ))
    })
}

/// Makes a configuration that trusts the vendor root public key `vendor_root` (32 bytes of
/// ed25519) for product `product` (e.g. `"chariot"`) at version `product_version` (e.g.
/// `"4.2.0"`) with the product's fingerprint salt and the platform's fingerprint probes.
///
/// The root must be compiled into the product, never read from a file the customer can edit:
/// pass `TOLLGATE_VENDOR_ROOT` from the generated header `tollgate_vendor_root.h`
/// (`tollgate vendor export-root --format c`, or `bindings/c/vendor-root.sh` from the 64 hex
/// digits). The root never signs licenses; it certifies the vendor's signing keys, whose
/// certificates travel inside the usage licenses, so a key rotation needs no rebuild.
///
/// The values are checked when a manager is opened with it (a root that is not a valid
/// ed25519 key: `TOLLGATE_ERR_BAD_PUBLIC_KEY`). Fails with `TOLLGATE_NULL_ARGUMENT`,
/// `TOLLGATE_INVALID_UTF8`, or `TOLLGATE_ERR_INVALID_ARGUMENT` when `vendor_root_len` is not 32.
///
/// # Safety
///
/// Every pointer is NULL or valid for its length; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_new(
    vendor_root: *const u8,
    vendor_root_len: usize,
    product: *const c_char,
    product_len: usize,
    product_version: *const c_char,
    product_version_len: usize,
    salt: *const u8,
    salt_len: usize,
    out: *mut *mut tollgate_config,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on each (pointer, length) pair.
        let (root, product, version, salt) = unsafe {
            (
                root_arg(vendor_root, vendor_root_len)?,
                arg_str(product, product_len)?,
                arg_str(product_version, product_version_len)?,
                arg_bytes(salt, salt_len)?,
            )
        };
        new_config(HostConfig::new(product, version, salt, root), out);
        Ok(())
    })
}

/// Reads a host configuration file's text, as written by `tollgate vendor host-config`:
/// OPTIONS only, `{"product": …, "product_version": …, "fingerprint_salt": …}` plus optional
/// `warn_days`, `min_components`, `key_certificates` (`["TGKC:…"]`) and `key_list`
/// (`"TGKL:…"`). The trust anchor is `vendor_root` (32 bytes, compiled in: see
/// `tollgate_config_new`); certificates and key lists in the file count only when that root
/// signed them. The platform probes are on.
///
/// A file that names keys, a root or a security policy (`vendor_keys`,
/// `rollback_tolerance_secs`, …) is refused with `TOLLGATE_ERR_UNTRUSTED_CONFIG`, so nobody
/// believes it is used. Fails also with `TOLLGATE_ERR_INVALID_ARGUMENT` (not such a document,
/// or `vendor_root_len` is not 32; see `tollgate_last_error` for why), `TOLLGATE_NULL_ARGUMENT`
/// or `TOLLGATE_INVALID_UTF8`.
///
/// # Safety
///
/// `vendor_root` is NULL or valid for `vendor_root_len` bytes; `json` is NULL or valid for
/// `json_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_from_json(
    vendor_root: *const u8,
    vendor_root_len: usize,
    json: *const c_char,
    json_len: usize,
    out: *mut *mut tollgate_config,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on (`vendor_root`, `vendor_root_len`) and (`json`,
        // `json_len`).
        let (root, json) = unsafe {
            (
                root_arg(vendor_root, vendor_root_len)?,
                arg_str(json, json_len)?,
            )
        };
        new_config(HostConfig::from_json(json, root)?, out);
        Ok(())
    })
}

/// Adds a signing-key certificate (`TGKC:…`), for usage licenses that do not carry their
/// signing key's certificate. It counts only when the configuration's vendor root signed it for
/// this product; it is checked when a manager is opened.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT` or `TOLLGATE_INVALID_UTF8`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread; `text` is NULL or valid
/// for `text_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_add_key_certificate(
    config: *mut tollgate_config,
    text: *const c_char,
    text_len: usize,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantees on `config` and (`text`, `text_len`).
        let (config, text) = unsafe { (arg_mut(config)?, arg_str(text, text_len)?) };
        config.inner.key_certificates.push(text.trim().to_owned());
        Ok(())
    })
}

/// Sets the vendor's root-signed key list (`TGKL:…`) that retires signing keys. It counts only
/// when the vendor root signed it; the host keeps the highest sequence it has seen, so an older
/// list changes nothing.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT` or `TOLLGATE_INVALID_UTF8`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread; `text` is NULL or valid
/// for `text_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_set_key_list(
    config: *mut tollgate_config,
    text: *const c_char,
    text_len: usize,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantees on `config` and (`text`, `text_len`).
        let (config, text) = unsafe { (arg_mut(config)?, arg_str(text, text_len)?) };
        config.inner.key_list = Some(text.trim().to_owned());
        Ok(())
    })
}

/// Turns the platform's fingerprint probes on (the default) or off. With the probes off, the
/// fingerprint is made only of the components added with `tollgate_config_add_component`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_set_probes(
    config: *mut tollgate_config,
    enabled: bool,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `config`.
        unsafe { arg_mut(config) }?.inner.fingerprint.probes = enabled;
        Ok(())
    })
}

/// Adds a fingerprint component of kind `kind` (`TOLLGATE_COMPONENT_…`) with the raw
/// identifier `raw` (e.g. a workload id, an operator-supplied id). Raw identifiers are only
/// ever hashed with the product's salt; they are never stored or sent.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` for an unknown kind, or `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread; `raw` is NULL or valid
/// for `raw_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_add_component(
    config: *mut tollgate_config,
    kind: u8,
    raw: *const u8,
    raw_len: usize,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantees on `config` and (`raw`, `raw_len`).
        let (config, raw) = unsafe { (arg_mut(config)?, arg_bytes(raw, raw_len)?) };
        let k = component_kind(kind)?;
        config.inner.fingerprint.extra.push((k, raw.to_vec()));
        Ok(())
    })
}

/// Drops every component of kind `kind` that the platform probes find (e.g.
/// `TOLLGATE_COMPONENT_HOSTNAME` where host names are ephemeral). Components added with
/// `tollgate_config_add_component` are kept.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` for an unknown kind, or `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_replace_component(
    config: *mut tollgate_config,
    kind: u8,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `config`.
        let config = unsafe { arg_mut(config) }?;
        let k = component_kind(kind)?;
        if !config.inner.fingerprint.replace.contains(&k) {
            config.inner.fingerprint.replace.push(k);
        }
        Ok(())
    })
}

/// Allows (`true`) components added with `tollgate_config_add_component` of a kind the
/// platform probes read (machine-id, dmi-product-uuid, mac, root-disk, hostname). Such a value
/// claims an identity instead of measuring it: for tests and documented escape hatches only.
/// Without it (the default) opening a manager with such a component fails with
/// `TOLLGATE_ERR_COMPONENT_OVERRIDE`.
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_allow_component_override(
    config: *mut tollgate_config,
    allow: bool,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `config`.
        unsafe { arg_mut(config) }?.inner.fingerprint.allow_override = allow;
        Ok(())
    })
}

/// Sets how many days before a subscription or the license ends the status starts warning
/// (default 30).
///
/// # Safety
///
/// `config` is NULL or a live configuration used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_set_warn_days(
    config: *mut tollgate_config,
    days: u32,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `config`.
        unsafe { arg_mut(config) }?.inner.warn_days = days;
        Ok(())
    })
}

/// Frees a configuration. NULL is ignored.
///
/// # Safety
///
/// `config` is NULL or a configuration from this library that is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tollgate_config_free(config: *mut tollgate_config) {
    crate::boundary::value_boundary((), || {
        if !config.is_null() {
            // SAFETY: `config` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}

/// The kind byte of a component kind name: `machine-id`, `dmi-product-uuid`, `mac`,
/// `root-disk`, `hostname`, `workload`, `cloud-instance` or `operator`.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` for another name, `TOLLGATE_NULL_ARGUMENT` or
/// `TOLLGATE_INVALID_UTF8`.
///
/// # Safety
///
/// `name` is NULL or valid for `name_len` bytes; `out_kind` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_component_kind_from_name(
    name: *const c_char,
    name_len: usize,
    out_kind: *mut u8,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out_kind)?;
        // SAFETY: the caller's guarantee on (`name`, `name_len`).
        let name = unsafe { arg_str(name, name_len) }?;
        let k = ComponentKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Failure::invalid(&format!("`{name}` is not a fingerprint component kind"))
            })?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(k as u8) };
        Ok(())
    })
}

/// The configuration behind a `const tollgate_config *`.
///
/// # Safety
///
/// `config` is NULL or a live configuration that nothing changes meanwhile.
pub(crate) unsafe fn config_ref<'a>(
    config: *const tollgate_config,
) -> Result<&'a HostConfig, Failure> {
    // SAFETY: forwarded from the caller.
    Ok(&unsafe { arg_ref(config) }?.inner)
}
