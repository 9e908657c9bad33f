//! The License page's API through its one handler: the security checks (CSRF, origin, host,
//! authentication, loopback), the OpenAPI document, and the online and offline flows against a
//! real `tollgate-server` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_core::ComponentKind;
use tollgate_page::{check_listen, Auth, LicensePage, PageConfig, Request, Response, ROUTES};
use tollgate_protocol::page as api;
use tollgate_sdk::online::{OnlineClient, OnlineConfig};
use tollgate_sdk::{
    BearerToken, HostConfig, LicenseManager, MemoryStorage, StaticSource, SystemClock,
};

const ADMIN: &str = "page-test-admin-token-0123456789";
const HOST: &str = "127.0.0.1:8089";

fn manager(root: [u8; 32], n: u32) -> Arc<RwLock<LicenseManager>> {
    let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let probes = StaticSource::from_strs(&[
        (ComponentKind::MachineId, &format!("machine-{n}")),
        (ComponentKind::Hostname, &format!("broker-{n}")),
        (ComponentKind::Mac, &format!("02:00:00:00:00:{n:02x}")),
    ]);
    Arc::new(RwLock::new(
        LicenseManager::with_parts(
            config,
            Box::new(MemoryStorage::new()),
            Arc::new(SystemClock),
            Box::new(probes),
        )
        .unwrap(),
    ))
}

fn quick(base: &str) -> OnlineConfig {
    let mut cfg = OnlineConfig::new(base);
    cfg.attempts = 2;
    cfg.backoff = Duration::from_millis(20);
    cfg.max_backoff = Duration::from_millis(50);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.timeout = Duration::from_secs(20);
    cfg
}

/// A browser tab: its session cookie and CSRF token, and every body it received.
struct Tab<'a> {
    page: &'a LicensePage,
    cookie: Option<String>,
    csrf: Option<String>,
    extra: Vec<(String, String)>,
    seen: Vec<u8>,
}

impl<'a> Tab<'a> {
    fn new(page: &'a LicensePage) -> Self {
        Tab {
            page,
            cookie: None,
            csrf: None,
            extra: vec![],
            seen: vec![],
        }
    }

    fn raw(
        &mut self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Response {
        let r = self.page.handle(&Request {
            method,
            path,
            headers: &headers,
            body,
        });
        self.seen.extend_from_slice(&r.body);
        r
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            ("Host".to_owned(), HOST.to_owned()),
            ("Origin".to_owned(), format!("http://{HOST}")),
            ("Sec-Fetch-Site".to_owned(), "same-origin".to_owned()),
        ];
        if let Some(c) = &self.cookie {
            h.push((
                "Cookie".into(),
                format!("other=1; {}={c}", api::SESSION_COOKIE),
            ));
        }
        if let Some(t) = &self.csrf {
            h.push(("X-Tollgate-Csrf".into(), t.clone()));
        }
        h.extend(self.extra.iter().cloned());
        h
    }

    fn open(&mut self) -> Value {
        let r = self.raw("GET", api::SESSION, self.headers(), b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let cookie = r
            .headers
            .iter()
            .find(|(k, _)| *k == "set-cookie")
            .map(|(_, v)| v.clone())
            .unwrap();
        let (pair, attrs) = cookie.split_once("; ").unwrap();
        assert_eq!(attrs, "HttpOnly; SameSite=Strict; Path=/");
        let id = pair.strip_prefix("tollgate_page=").unwrap();
        assert_eq!(id.len(), 32);
        self.cookie = Some(id.to_owned());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        self.csrf = Some(v["csrf_token"].as_str().unwrap().to_owned());
        v
    }

    fn get(&mut self, path: &str) -> (u16, Value) {
        let r = self.raw("GET", path, self.headers(), b"");
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    fn post(&mut self, path: &str, body: Value) -> (u16, Value) {
        let r = self.raw("POST", path, self.headers(), body.to_string().as_bytes());
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }
}

fn code(v: &Value) -> u64 {
    v["error"]["code"].as_u64().unwrap_or(0)
}

fn any_root() -> [u8; 32] {
    tollgate_core::VendorSigningKey::from_seed(&[7; 32]).public_key()
}

fn offline_page() -> LicensePage {
    LicensePage::new(manager(any_root(), 1), PageConfig::default()).unwrap()
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let doc: Value = serde_json::from_str(api::OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);
    assert_eq!(served.len(), 12);
    // And every route is dispatched (none answers 404), even refused.
    let page = offline_page();
    let mut tab = Tab::new(&page);
    tab.open();
    for (m, p) in ROUTES {
        let r = tab.raw(m, p, tab.headers(), b"{}");
        assert_ne!(r.status, 404, "{m} {p}");
    }
    let (s, v) = tab.get(api::OPENAPI_PATH);
    assert_eq!(
        (s, v["info"]["title"].as_str()),
        (200, Some("Tollgate License page API"))
    );
}

#[test]
fn the_page_and_its_script_are_served_with_a_strict_policy() {
    let page = offline_page();
    let mut tab = Tab::new(&page);
    let r = tab.raw("GET", "/", vec![], b"");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("<tollgate-license-page"));
    let csp = r
        .headers
        .iter()
        .find(|(k, _)| *k == "content-security-policy")
        .unwrap();
    assert_eq!(
        csp.1,
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    let js = tab.raw("GET", "/license-page.js", vec![], b"");
    assert_eq!(js.headers[0].1, "text/javascript; charset=utf-8");
    assert!(String::from_utf8_lossy(&js.body)
        .contains("customElements.define(\"tollgate-license-page\""));
    assert_eq!(tab.raw("GET", "/nope", vec![], b"").status, 404);
    let (s, v) = tab.get("/api/nope");
    assert_eq!((s, code(&v)), (404, 404));
}

#[test]
fn posts_need_the_session_cookie_and_its_csrf_token() {
    let page = offline_page();
    let mut tab = Tab::new(&page);
    // No session at all.
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
    assert_eq!(v["error"]["name"], "CsrfRefused");
    tab.open();
    // The token alone (a cookie-less attacker who somehow learned it) or the cookie alone.
    let token = tab.csrf.take();
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
    tab.csrf = Some("00".repeat(32));
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
    tab.csrf = Some("not hex".into());
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
    // Another session's token does not fit this cookie.
    let mut other = Tab::new(&page);
    other.open();
    tab.csrf = other.csrf.clone();
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
    // With both, the call reaches the runtime (which has nothing to deactivate: 200).
    tab.csrf = token;
    let (s, v) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (422, 200), "{v}");
    // A page of another process (another secret) cannot mint tokens for this one.
    let page2 = offline_page();
    let mut tab2 = Tab::new(&page2);
    tab2.cookie = tab.cookie.clone();
    tab2.csrf = tab.csrf.clone();
    let (s, v) = tab2.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!((s, code(&v)), (403, 251));
}

#[test]
fn cross_origin_and_foreign_host_calls_are_refused() {
    let page = offline_page();
    let mut tab = Tab::new(&page);
    tab.open();
    let good = tab.headers();
    let with = |name: &str, value: &str| {
        let mut h: Vec<(String, String)> = good
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        h.push((name.to_owned(), value.to_owned()));
        h
    };
    for (name, value) in [
        ("Origin", "http://evil.example"),
        ("Origin", "http://127.0.0.1:9999"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
        ("Host", "evil.example:8089"),
        ("Host", "127.0.0.1.nip.io"),
    ] {
        for method in ["GET", "POST"] {
            let path = if method == "GET" {
                api::STATUS
            } else {
                api::OFFLINE_DEACTIVATE
            };
            let r = tab.raw(method, path, with(name, value), b"{}");
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!((r.status, code(&v)), (403, 252), "{name}: {value} {method}");
        }
    }
    // No Host at all.
    let no_host: Vec<(String, String)> =
        good.iter().filter(|(k, _)| k != "Host").cloned().collect();
    let r = tab.raw("GET", api::STATUS, no_host, b"");
    assert_eq!(r.status, 403);
    // Loopback names are accepted; others only when the host allows them.
    for host in ["localhost:1", "[::1]:8089", "127.0.0.1"] {
        let mut h = with("Host", host);
        h.retain(|(k, _)| k != "Origin");
        assert_eq!(tab.raw("GET", api::STATUS, h, b"").status, 200, "{host}");
    }
    let cfg = PageConfig {
        allowed_hosts: vec!["broker.plant.local".into()],
        ..PageConfig::default()
    };
    let page = LicensePage::new(manager(any_root(), 1), cfg).unwrap();
    let r = page.handle(&Request {
        method: "GET",
        path: api::STATUS,
        headers: &[("host".into(), "broker.plant.local:8443".into())],
        body: b"",
    });
    assert_eq!(r.status, 200);
}

#[test]
fn the_hosts_authentication_guards_every_api_route() {
    let token = "s3cret-page-token";
    let cfg = PageConfig {
        auth: Auth::Token(BearerToken::new(token).unwrap()),
        ..PageConfig::default()
    };
    let page = LicensePage::new(manager(any_root(), 1), cfg).unwrap();
    let mut tab = Tab::new(&page);
    let (s, v) = tab.get(api::SESSION);
    assert_eq!((s, code(&v)), (401, 250));
    for (m, p) in ROUTES {
        let r = tab.raw(m, p, tab.headers(), b"{}");
        assert_eq!(r.status, 401, "{m} {p}");
    }
    tab.extra = vec![("Authorization".into(), "Bearer s3cret-page-tokeN".into())];
    assert_eq!(tab.get(api::STATUS).0, 401);
    tab.extra = vec![("Authorization".into(), format!("Basic {token}"))];
    assert_eq!(tab.get(api::STATUS).0, 401);
    tab.extra = vec![("Authorization".into(), format!("Bearer {token}"))];
    tab.open();
    assert_eq!(tab.get(api::STATUS).0, 200);
    // The page itself (no secrets in it) is served without the token.
    assert_eq!(Tab::new(&page).raw("GET", "/", vec![], b"").status, 200);

    // A callback: the broker's own login cookie.
    let cfg = PageConfig {
        auth: Auth::Callback(Arc::new(|r: &Request<'_>| {
            r.header("cookie")
                .is_some_and(|c| c.contains("broker_login=ok"))
        })),
        ..PageConfig::default()
    };
    let page = LicensePage::new(manager(any_root(), 1), cfg).unwrap();
    let mut tab = Tab::new(&page);
    assert_eq!(tab.get(api::STATUS).0, 401);
    tab.extra = vec![("Cookie".into(), "broker_login=ok".into())];
    assert_eq!(tab.get(api::STATUS).0, 200);
}

#[test]
fn only_loopback_without_an_explicit_opt_in_and_an_authentication() {
    let token = Auth::Token(BearerToken::new("t0ken").unwrap());
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
    let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let lan: SocketAddr = "192.168.1.10:8080".parse().unwrap();
    assert!(check_listen(lo, false, &Auth::None).is_ok());
    assert!(check_listen(lo6, false, &Auth::None).is_ok());
    for addr in [any, lan] {
        assert_eq!(check_listen(addr, false, &token).unwrap_err().code, 254);
        assert_eq!(check_listen(addr, true, &Auth::None).unwrap_err().code, 254);
        assert!(check_listen(addr, true, &token).is_ok());
    }
}

#[test]
fn malformed_bodies_are_typed_errors() {
    let page = offline_page();
    let mut tab = Tab::new(&page);
    tab.open();
    for body in [&b"not json"[..], b"{}", b"{\"key\": 5}", b"\xff\xfe", b""] {
        let r = tab.raw("POST", api::OFFLINE_REQUEST, tab.headers(), body);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!((r.status, code(&v)), (400, 400), "{body:?}");
    }
    let big = vec![b' '; api::MAX_BODY + 1];
    let r = tab.raw("POST", api::OFFLINE_INSTALL, tab.headers(), &big);
    assert_eq!(r.status, 413);
    // A mistyped key: the core's typed error, and the key is not echoed.
    let (s, v) = tab.post(
        api::OFFLINE_REQUEST,
        json!({"key": "ENF9Y-M3N56-ZXJYP-CEX7C-N8WUE"}),
    );
    assert_eq!(s, 422, "{v}");
    assert!((100..=128).contains(&code(&v)), "{v}");
    assert!(!String::from_utf8_lossy(&tab.seen).contains("ENF9Y-M3N56"));
    // The online method and floating without configuration: 253.
    let (s, v) = tab.post(api::ONLINE_ACTIVATE, json!({"key": "x"}));
    assert_eq!((s, code(&v)), (409, 253));
    let (s, v) = tab.post(
        api::FLOATING_CHECKOUT,
        json!({"server": "http://127.0.0.1:1", "feature_set": "x"}),
    );
    assert_eq!((s, code(&v)), (409, 253));
    // The wrong method on a route.
    let r = tab.raw("GET", api::OFFLINE_REQUEST, tab.headers(), b"");
    assert_eq!(r.status, 405);
}

// -- against the real online service ---------------------------------------------------------

struct Vendor {
    _dir: tempfile::TempDir,
    server: tollgate_server::Running,
    root: [u8; 32],
}

fn vendor() -> Vendor {
    let dir = tempfile::tempdir().unwrap();
    let mut a = tollgate_authority_open(dir.path());
    let root = a.create_root_key(1_700_000_000).unwrap();
    a.create_signing_key(1_700_000_000).unwrap();
    drop(a);
    let config = tollgate_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_path_buf(),
        admin_token: Some(tollgate_server::Secret::new(ADMIN)),
        pool_size: 2,
        shutdown_grace_secs: 5,
        ..Default::default()
    };
    let server = tollgate_server::Server::open(config)
        .unwrap()
        .start()
        .unwrap();
    Vendor {
        _dir: dir,
        server,
        root,
    }
}

fn tollgate_authority_open(dir: &std::path::Path) -> tollgate_authority::Authority {
    tollgate_authority::Authority::open(dir).unwrap()
}

fn issue(base: &str, seats: u32) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let spec = json!({
        "product": "chariot", "customer": "ACME Corp",
        "features": [
            {"name": "mqtt-server", "kind": "perpetual"},
            {"name": "support", "kind": "subscription", "expires_at": 4_000_000_000u64},
            {"name": "snowflake-bridge", "kind": "metered", "quota": 1000, "period": "month"}
        ],
        "models": ["online", "offline"], "max_activations": seats
    });
    let mut r = agent
        .post(&format!("{base}/v1/admin/licenses"))
        .header("authorization", &format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .send(spec.to_string())
        .unwrap();
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(r.status().as_u16(), 201, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

#[test]
fn online_activate_reactivate_deactivate_and_the_error_paths() {
    let v = vendor();
    let url = v.server.url();
    let key = issue(&url, 1);
    let cfg = PageConfig {
        online: Some(quick(&url)),
        vendor: "Cirrus Link".into(),
        ..PageConfig::default()
    };
    let m = manager(v.root, 1);
    let page = LicensePage::new(m.clone(), cfg).unwrap();
    let mut tab = Tab::new(&page);
    let session = tab.open();
    assert_eq!(session["online"], true);
    assert_eq!(session["vendor"], "Cirrus Link");

    // A mistyped key (one character changed): the core's checksum error, nothing sent.
    let mut typo = key.clone().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let (s, e) = tab.post(
        api::ONLINE_ACTIVATE,
        json!({"key": String::from_utf8(typo).unwrap()}),
    );
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"]["name"], "KeyChecksum", "{e}");

    let (s, st) = tab.post(api::ONLINE_ACTIVATE, json!({"key": format!("  {key}\n")}));
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["status"]["state"], "active");
    let lic = &st["status"]["license"];
    assert_eq!(lic["deployment_model"], "online");
    let names: Vec<&str> = lic["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mqtt-server", "support", "snowflake-bridge"]);
    assert_eq!(lic["features"][2]["quota"], 1000);
    assert_eq!(lic["features"][2]["used"], 0);
    assert!(m.read().unwrap().has_feature("mqtt-server"));
    assert!(page.has_feature("mqtt-server"));
    assert!(!page.has_feature("no-such-feature"));
    // The metered usage the host records shows on the status page.
    m.write()
        .unwrap()
        .record_usage("snowflake-bridge", 42)
        .unwrap();
    let (_, st) = tab.get(api::STATUS);
    assert_eq!(st["status"]["license"]["features"][2]["used"], 42);

    let (s, st) = tab.post(api::ONLINE_REACTIVATE, json!({}));
    assert_eq!((s, st["status"]["state"].as_str()), (200, Some("active")));

    // No seat left for a second broker: the service's code.
    let page2 = LicensePage::new(
        manager(v.root, 2),
        PageConfig {
            online: Some(quick(&url)),
            ..PageConfig::default()
        },
    )
    .unwrap();
    let mut tab2 = Tab::new(&page2);
    tab2.open();
    let (s, e) = tab2.post(api::ONLINE_ACTIVATE, json!({"key": key}));
    assert_eq!((s, code(&e)), (422, 303), "{e}");

    let (s, d) = tab.post(api::ONLINE_DEACTIVATE, json!({}));
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["delivered"], true);
    assert!(d["deactivation_code"]
        .as_str()
        .unwrap()
        .starts_with("TGDC:"));
    let (_, st) = tab.get(api::STATUS);
    assert_eq!(st["status"]["state"], "unlicensed");
    // The seat is free: the second broker activates.
    let (s, _) = tab2.post(api::ONLINE_ACTIVATE, json!({"key": key}));
    assert_eq!(s, 200);

    // The service down: 502 with 230.
    v.server.stop();
    let (s, e) = tab.post(api::ONLINE_ACTIVATE, json!({"key": key}));
    assert_eq!((s, code(&e)), (502, 230), "{e}");

    // No answer ever carried the key.
    for seen in [&tab.seen, &tab2.seen] {
        let text = String::from_utf8_lossy(seen);
        assert!(!text.contains(&key), "the key was echoed");
        assert!(!text.contains(&key.replace('-', "")));
    }
}

#[test]
fn offline_round_trip_tampered_license_upgrade_and_deactivation_code() {
    let v = vendor();
    let url = v.server.url();
    let key = issue(&url, 2);
    let m = manager(v.root, 3);
    let page = LicensePage::new(m.clone(), PageConfig::default()).unwrap();
    let mut tab = Tab::new(&page);
    tab.open();
    let (s, r) = tab.post(api::OFFLINE_REQUEST, json!({"key": key}));
    assert_eq!(s, 200, "{r}");
    let request = r["usage_request"].as_str().unwrap().to_owned();
    assert!(request.starts_with("TGRQ:"));
    let (_, st) = tab.get(api::STATUS);
    assert_eq!(st["status"]["state"], "pending");
    assert_eq!(st["usage_request"], request.as_str());

    // The vendor answers it.
    let vendor_client = OnlineClient::new(quick(&url)).unwrap();
    let answer = vendor_client
        .post_usage_request(tollgate_protocol::online::OFFLINE_FULFIL, &request)
        .unwrap()
        .usage_license;
    // A tampered usage license (one character changed) is refused with the core's code.
    let mut bad = answer.clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let (s, e) = tab.post(
        api::OFFLINE_INSTALL,
        json!({"usage_license": String::from_utf8(bad).unwrap()}),
    );
    assert_eq!(s, 422, "{e}");
    assert!((100..=128).contains(&code(&e)), "{e}");
    let (s, st) = tab.post(api::OFFLINE_INSTALL, json!({"usage_license": answer}));
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["status"]["state"], "active");
    assert_eq!(st["status"]["license"]["deployment_model"], "offline");
    assert_eq!(st["usage_request"], Value::Null);

    // Upgrade: a new request without the key.
    let (s, r) = tab.post(api::OFFLINE_RENEW, json!({}));
    assert_eq!(s, 200);
    assert!(r["usage_request"].as_str().unwrap().starts_with("TGRQ:"));
    let (_, st) = tab.get(api::STATUS);
    assert_eq!(st["status"]["state"], "active");
    assert_eq!(st["usage_request"], r["usage_request"]);

    let (s, d) = tab.post(api::OFFLINE_DEACTIVATE, json!({}));
    assert_eq!(s, 200);
    let code_text = d["deactivation_code"].as_str().unwrap().to_owned();
    assert!(code_text.starts_with("TGDC:"));
    assert_eq!(d["delivered"], false);
    let (_, st) = tab.get(api::STATUS);
    assert_eq!(st["status"]["state"], "unlicensed");
    assert_eq!(st["deactivation_code"], code_text.as_str());
    assert!(!String::from_utf8_lossy(&tab.seen).contains(&key));
}

#[test]
fn the_page_codes_are_250_to_254_and_collide_with_no_other_code() {
    let codes: Vec<u32> = tollgate_page::PAGE_ERRORS.iter().map(|e| e.0).collect();
    assert_eq!(codes, [250, 251, 252, 253, 254]);
    let names: Vec<&str> = tollgate_page::PAGE_ERRORS.iter().map(|e| e.1).collect();
    assert_eq!(
        names,
        [
            "PageUnauthorized",
            "CsrfRefused",
            "ForeignOrigin",
            "NotConfigured",
            "RemoteBind"
        ]
    );
    for code in codes {
        assert!(tollgate_sdk::error_info(code).is_none(), "{code}");
        assert!(tollgate_sdk::service_refusal_info(code).is_none(), "{code}");
    }
}
