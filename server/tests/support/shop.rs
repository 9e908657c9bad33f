//! What the shop's tests share: Stripe's own mock server (`stripe-mock`, built by
//! `scripts/setup.sh`), a small SMTP sink that records what the customer receives, the shop's
//! configuration for them, and webhook events signed exactly as Stripe signs them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_server::shop::{
    webhook, CatalogueItem, ItemKind, ShopConfig, SmtpConfig, SmtpTls, StripeConfig,
};
use tollgate_server::Secret;

use crate::common::http;

pub const WEBHOOK_SECRET: &str = "whsec_tollgate_test_0123456789";
pub const EMAIL: &str = "ops@acme.example";

// --- stripe-mock ------------------------------------------------------------------------------

/// `stripe-mock` on a free loopback port, killed on drop.
pub struct StripeMock {
    child: Child,
    pub base: String,
}

impl StripeMock {
    pub fn binary() -> std::path::PathBuf {
        if let Ok(p) = std::env::var("TOLLGATE_STRIPE_MOCK") {
            return p.into();
        }
        let cache = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        let cached = std::path::Path::new(&cache).join("tollgate/bin/stripe-mock");
        if cached.exists() {
            return cached;
        }
        panic!(
            "stripe-mock not found: run scripts/setup.sh (it builds stripe-mock v0.203.0 into \
             ~/.cache/tollgate/bin) or set TOLLGATE_STRIPE_MOCK"
        );
    }

    pub fn start() -> Self {
        let mut child = Command::new(Self::binary())
            .args(["-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stripe-mock");
        let out = child.stdout.take().unwrap();
        // It prints its addresses after loading its specification: read at most 50 lines.
        let mut lines = BufReader::new(out).lines();
        let mut base = None;
        for _ in 0..50 {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(addr) = line.strip_prefix("Listening for HTTP at address: ") {
                base = Some(format!("http://{}", addr.trim()));
                break;
            }
        }
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let Some(base) = base else {
            let _ = child.kill();
            panic!("stripe-mock did not report its address");
        };
        StripeMock { child, base }
    }
}

impl Drop for StripeMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- SMTP sink --------------------------------------------------------------------------------

/// One message received: envelope and data.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A loopback SMTP receiver speaking just enough of RFC 5321 for one client at a time; every
/// read has a timeout and it serves a bounded number of connections.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let m = Arc::clone(&mails);
        std::thread::spawn(move || {
            for conn in listener.incoming().take(20) {
                let Ok(conn) = conn else { continue };
                let _ = serve_smtp(conn, &m);
            }
        });
        SmtpSink { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn serve_smtp(conn: TcpStream, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 sink.test ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    for _ in 0..100 {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            w.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            w.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            w.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            for _ in 0..10_000 {
                let mut l = String::new();
                if r.read_line(&mut l)? == 0 || l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            mails.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            w.write_all(b"250 queued\r\n")?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 OK\r\n")?;
        }
    }
    Ok(())
}

// --- the service ------------------------------------------------------------------------------

pub fn item(sku: &str, name: &str, kind: ItemKind) -> CatalogueItem {
    CatalogueItem {
        sku: sku.into(),
        name: name.into(),
        feature: sku.into(),
        kind,
        price: format!("price_{}", sku.replace('-', "_")),
        max_years: None,
        quota: None,
        period: None,
        meter: None,
    }
}

pub fn shop_config(stripe: &str, smtp: SocketAddr) -> ShopConfig {
    let mut snowflake = item("snowflake", "IoT Bridge for Snowflake", ItemKind::Metered);
    snowflake.quota = Some(1_000_000);
    snowflake.period = Some("month".into());
    snowflake.meter = Some("snowflake_messages".into());
    ShopConfig {
        product: "chariot".into(),
        models: vec!["online".into()],
        success_url: "https://broker.test/license?purchase={PURCHASE_ID}".into(),
        cancel_url: "https://broker.test/license".into(),
        delivery_secret: Secret::new("delivery-secret-for-tests-0123456789"),
        stripe: StripeConfig {
            api_base: stripe.into(),
            secret_key: Secret::new("sk_test_tollgate"),
            webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
            tolerance_secs: 300,
        },
        items: vec![
            item("mqtt-server", "MQTT Server", ItemKind::Perpetual),
            item("support", "MQTT Server Support", ItemKind::Years),
            snowflake,
        ],
        smtp: Some(SmtpConfig {
            host: smtp.ip().to_string(),
            port: smtp.port(),
            tls: SmtpTls::None,
            from: "Licensing <licensing@vendor.test>".into(),
            username: None,
            password: None,
        }),
        // The tests forward metered usage themselves (`usage::forward_usage`), so that they
        // count exactly the meter events sent.
        meter_interval_secs: 0,
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `checkout.session.completed`-like event for a purchase.
pub fn event(id: &str, ty: &str, session: &str, purchase: u64, paid: bool) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": ty,
        "data": {"object": {
            "id": session,
            "object": "checkout.session",
            "client_reference_id": purchase.to_string(),
            "payment_status": if paid { "paid" } else { "unpaid" },
            "customer": "cus_test_1"
        }}
    })
    .to_string()
}

/// Posts a webhook with a `Stripe-Signature` header (or none): (status, body).
pub fn deliver(base: &str, payload: &str, signature: Option<String>) -> (u16, Value) {
    let agent = http();
    let mut r = agent
        .post(&format!("{base}/v1/shop/stripe/webhook"))
        .header("content-type", "application/json");
    if let Some(s) = &signature {
        r = r.header("stripe-signature", s);
    }
    let mut resp = r.send(payload).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn signed(payload: &str) -> Option<String> {
    Some(webhook::sign(WEBHOOK_SECRET, now(), payload.as_bytes()))
}

/// Runs one round of the metered usage forwarder at `at` (the tests turn the periodic one off
/// and count exactly what this sends).
pub fn forward(server: &tollgate_server::Running, at: u64) -> tollgate_server::usage::Forwarded {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(tollgate_server::usage::forward_usage(server.state(), at))
        .unwrap()
}
