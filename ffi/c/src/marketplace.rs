//! `tollgate_marketplace`: cloud marketplace activation, over
//! [`tollgate_sdk::marketplace::MarketplaceClient`]: at each start, a marketplace instance
//! activates (or refreshes) a `tollgate_manager` from the cloud's signed instance identity,
//! with no license key.

use std::ffi::c_char;

use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};
use tollgate_sdk::online::OnlineConfig;

use crate::boundary::{arg_bytes, arg_out, arg_ref, arg_str, result_boundary, value_boundary};
use crate::error::{tollgate_result, Failure, TOLLGATE_POISONED};
use crate::manager::{tollgate_manager, tollgate_status};
use crate::online::applied;

/// Cloud: Amazon EC2 (AWS Marketplace): IMDSv2, instance identity document + signature.
pub const TOLLGATE_CLOUD_AWS: u32 = 1;
/// Cloud: Azure (Azure Marketplace): attested data document (PKCS#7, with a nonce).
pub const TOLLGATE_CLOUD_AZURE: u32 = 2;

/// A marketplace client: the cloud's metadata service and the vendor's online activation
/// service. Opened with `tollgate_marketplace_new`, freed with `tollgate_marketplace_free`.
///
/// Thread safety: immutable once created; any number of threads may use one client.
pub struct tollgate_marketplace {
    inner: MarketplaceClient,
}

/// A marketplace client for `cloud` (`TOLLGATE_CLOUD_AWS` or `TOLLGATE_CLOUD_AZURE`) and the
/// activation service at `server` (as for `tollgate_online_new`, with `root_certs_pem`). The
/// metadata service is `metadata_url` when not NULL (tests), else `http://169.254.169.254`.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` (unknown cloud, not an `http(s)://` URL,
/// unreadable certificates), `TOLLGATE_INVALID_UTF8`, or `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `server` is NULL or valid for `server_len` bytes; `metadata_url` is NULL or valid for
/// `metadata_url_len` bytes; `root_certs_pem` is NULL or valid for `root_certs_pem_len`
/// bytes; `out` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tollgate_marketplace_new(
    cloud: u32,
    server: *const c_char,
    server_len: usize,
    metadata_url: *const c_char,
    metadata_url_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    out: *mut *mut tollgate_marketplace,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        let cloud = match cloud {
            TOLLGATE_CLOUD_AWS => Cloud::Aws,
            TOLLGATE_CLOUD_AZURE => Cloud::Azure,
            _ => return Err(Failure::invalid("unknown cloud")),
        };
        // SAFETY: the caller's guarantee on (`server`, `server_len`).
        let server = unsafe { arg_str(server, server_len) }?;
        let mut service = OnlineConfig::new(server);
        if !root_certs_pem.is_null() {
            // SAFETY: the caller's guarantee on (`root_certs_pem`, `root_certs_pem_len`).
            service.root_certs_pem =
                Some(unsafe { arg_bytes(root_certs_pem, root_certs_pem_len) }?.to_vec());
        }
        let mut config = MarketplaceConfig::new(cloud);
        if !metadata_url.is_null() {
            // SAFETY: the caller's guarantee on (`metadata_url`, `metadata_url_len`).
            config.metadata_url = unsafe { arg_str(metadata_url, metadata_url_len) }?.to_owned();
        }
        let client = Box::new(tollgate_marketplace {
            inner: MarketplaceClient::new(config, service)?,
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(client)) };
        Ok(())
    })
}

/// Frees a client. NULL is ignored.
///
/// # Safety
///
/// `o` is NULL or a client from this library that no other thread uses and that is not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn tollgate_marketplace_free(o: *mut tollgate_marketplace) {
    value_boundary((), || {
        if !o.is_null() {
            // SAFETY: `o` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(o) });
        }
    })
}

/// What a product calls at each start in marketplace mode: activates manager `m` from the
/// instance's signed identity the first time, refreshes it afterwards (a copied state on
/// another instance is dropped and that instance activated on its own seat), and writes the
/// new status (`deployment_model` `TOLLGATE_MODEL_MARKETPLACE`) to `*out`.
///
/// Fails with `TOLLGATE_ERR_METADATA_UNREACHABLE` (260) / `TOLLGATE_ERR_BAD_METADATA` (261)
/// when the signed identity cannot be read; the service's refusal as its own code
/// (`TOLLGATE_ERR_SERVICE_IDENTITY_FORGED` 381, `…_UNKNOWN_PRODUCT_CODE` 382,
/// `…_IDENTITY_STALE` 383, `…_NONCE_MISMATCH` 384, `…_INSTANCE_MISMATCH` 385, …); and like
/// `tollgate_online_activate`, `TOLLGATE_ERR_CANCELLED` (240) when `tollgate_manager_free`
/// ends it. Nothing is installed on failure. The manager is not locked while the identity is
/// read or the service answers.
///
/// # Safety
///
/// `o` is NULL or a live client; `m` is NULL or a live manager; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_marketplace_start(
    o: *const tollgate_marketplace,
    m: *mut tollgate_manager,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on `o` and `m`.
        let (o, m) = unsafe { (arg_ref(o)?, arg_ref(m.cast_const())?) };
        // As the online calls: no lock while the identity is read or the service answers;
        // `tollgate_manager_free` cancels the call.
        let call = m.calls.enter()?;
        if m.inner.is_poisoned() {
            return Err(Failure::code(TOLLGATE_POISONED));
        }
        let status = o.inner.start_shared(&m.inner, Some(call.token()))?;
        let c = applied(m, &status)?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}
