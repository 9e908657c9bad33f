//! The License page for Java hosts: the one handler of `tollgate-page` over a Java
//! `LicenseManager`'s manager, called by `dev.tollgate.LicensePageHandler` (an `HttpHandler` of
//! the JDK's `com.sun.net.httpserver`). No page or API logic lives here or in Java.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use std::sync::Arc;

use jni::objects::{JByteArray, JClass, JString};
use jni::sys::jlong;
use jni::EnvUnowned;
use tollgate_page::{Auth, LicensePage, PageConfig, PageFeatureSet, Request, SharedManager};
use tollgate_sdk::online::OnlineConfig;
use tollgate_sdk::{BearerToken, LicenseManager, SdkError};

use crate::convert::{self, string};
use crate::error::{invalid, Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle};
use crate::manager::{read, write};

/// A Java `LicenseManager`'s handle as the page's [`SharedManager`]. The Java
/// `LicensePageHandler` keeps its `LicenseManager` reachable, so the handle outlives the page.
struct JavaManager(jlong);

fn closed() -> SdkError {
    SdkError::InvalidArgument {
        reason: "the LicenseManager is closed".into(),
    }
}

impl SharedManager for JavaManager {
    fn with_read(&self, f: &mut dyn FnMut(&LicenseManager)) -> std::result::Result<(), SdkError> {
        read(self.0, |m| {
            f(m);
            Ok(())
        })
        .map_err(|_| closed())
    }

    fn with_write(
        &self,
        f: &mut dyn FnMut(&mut LicenseManager),
    ) -> std::result::Result<(), SdkError> {
        write(self.0, |m| {
            f(m);
            Ok(())
        })
        .map_err(|_| closed())
    }
}

/// The page's configuration from `key=value` lines: `vendor`, `online` (the service URL),
/// `floating` (the floating server URL), `upgrade` (the shop URL), `token` (the API's bearer
/// token), `set` (`NAME=feature,feature`, repeatable), `host` (an allowed host name,
/// repeatable).
fn page_config(text: &str) -> Result<PageConfig> {
    let mut c = PageConfig::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| invalid(format!("page option `{line}`: use key=value")))?;
        let v = v.trim().to_owned();
        match k.trim() {
            "vendor" => c.vendor = v,
            "online" => c.online = Some(OnlineConfig::new(v)),
            "floating" => c.floating_server = Some(v),
            "upgrade" => c.upgrade_url = Some(v),
            "token" => c.auth = Auth::Token(BearerToken::new(v)?),
            "host" => c.allowed_hosts.push(v),
            "set" => {
                let (name, features) = v
                    .split_once('=')
                    .ok_or_else(|| invalid("a feature set is NAME=feature,feature"))?;
                let features: Vec<String> = features
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect();
                if name.trim().is_empty() || features.is_empty() {
                    return Err(invalid("a feature set needs a name and a feature"));
                }
                c.feature_sets.push(PageFeatureSet {
                    name: name.trim().to_owned(),
                    features,
                });
            }
            other => return Err(invalid(format!("unknown page option `{other}`"))),
        }
    }
    Ok(c)
}

/// `long pageNew(long manager, String options)`: the page over the manager, configured by
/// `key=value` lines (see [`page_config`]).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_pageNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    manager: jlong,
    options: JString<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        read(manager, |_| Ok(()))?;
        let config = page_config(&string(env, &options)?)?;
        let page = LicensePage::with_shared(Arc::new(JavaManager(manager)), config)?;
        Ok(into_handle(page))
    })
    .resolve::<ThrowJava>()
}

/// `byte[] pageHandle(long page, String method, String path, String headers, byte[] body)`:
/// one request (`headers` as `name: value` lines) → `STATUS\nname: value\n…\n\n` + body.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_pageHandle<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    page: jlong,
    method: JString<'l>,
    path: JString<'l>,
    headers: JString<'l>,
    body: JByteArray<'l>,
) -> JByteArray<'l> {
    env.with_env(|env| -> Result<JByteArray<'l>> {
        let page: &LicensePage = borrow_handle(page)?;
        let method = string(env, &method)?;
        let path = string(env, &path)?;
        let headers: Vec<(String, String)> = string(env, &headers)?
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let body = convert::bytes(env, &body)?;
        let r = page.handle(&Request {
            method: &method,
            path: &path,
            headers: &headers,
            body: &body,
        });
        let mut out = format!("{}\n", r.status).into_bytes();
        for (k, v) in &r.headers {
            out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&r.body);
        Ok(env.byte_array_from_slice(&out)?)
    })
    .resolve::<ThrowJava>()
}

/// `void pageFree(long page)`: the `Cleaner` action.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_pageFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    page: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<LicensePage>(page);
        Ok(())
    })
    .resolve::<ThrowJava>()
}
