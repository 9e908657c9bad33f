//! `tollgate host ui`: serves the License page on loopback, refuses a non-loopback address
//! without the opt-in and a token (254), and answers the API over real HTTP with its checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

#[path = "support/run.rs"]
mod support;

fn tollgate(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.env("TOLLGATE_VENDOR_DIR", dir.join("vendor"))
        .env("TOLLGATE_HOST_CONFIG", dir.join("host.json"))
        .env_remove("TOLLGATE_NOW")
        .env_remove("TOLLGATE_SERVER")
        .env_remove("TOLLGATE_PAGE_TOKEN_FILE");
    c
}

fn setup(dir: &Path) {
    support::vendor_setup(&dir.join("host.json"), |args| {
        let out = tollgate(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn ui(dir: &Path, extra: &[&str]) -> Command {
    let mut c = tollgate(dir);
    c.args([
        "host",
        "--state",
        dir.join("state").to_str().unwrap(),
        "--no-probes",
        "--allow-override",
        "--component",
        "machine-id=m-1",
        "--component",
        "mac=aa:01",
        "--component",
        "hostname=b1",
        "ui",
    ])
    .args(extra);
    c
}

/// The server, its URL, and its standard output kept open (a closed pipe would end it).
struct Served(
    Child,
    String,
    #[allow(dead_code)] BufReader<std::process::ChildStdout>,
);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Served {
    let mut child = ui(dir, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("License page: ")
        .unwrap()
        .to_owned();
    Served(child, url, stdout)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn a_non_loopback_address_needs_the_opt_in_and_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    for extra in [
        &["--listen", "0.0.0.0:0"][..],
        &["--listen", "0.0.0.0:0", "--allow-remote"][..],
    ] {
        let out = ui(dir, extra).arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err: Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(err["error"]["code"], 254, "{err}");
    }
    let out = ui(
        dir,
        &["--listen", "127.0.0.1:0", "--feature-set", "no-features"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serves_the_page_and_guards_its_api_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    std::fs::write(dir.join("token"), "page-token-0123456789\n").unwrap();
    let token_file = dir.join("token");
    let served = serve(
        dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let (base, fragment) = served.1.split_once('#').unwrap();
    assert_eq!(fragment, "token=page-token-0123456789");
    let a = agent();
    let mut page = a.get(base).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("<tollgate-license-page"));

    let status = format!("{base}api/status");
    assert_eq!(a.get(&status).call().unwrap().status().as_u16(), 401);
    let bearer = "Bearer page-token-0123456789";
    let mut s = a
        .get(&format!("{base}api/session"))
        .header("authorization", bearer)
        .call()
        .unwrap();
    assert_eq!(s.status().as_u16(), 200);
    let cookie = s
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let session: Value = serde_json::from_str(&s.body_mut().read_to_string().unwrap()).unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let request = format!("{base}api/offline/deactivate");
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // Cross-origin: refused even with the cookie, the token and the CSRF token.
    let r = a
        .post(&request)
        .header("authorization", bearer)
        .header("cookie", &cookie)
        .header("x-tollgate-csrf", &csrf)
        .header("origin", "http://evil.example")
        .send("{}")
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Without the CSRF token: refused.
    let r = a
        .post(&request)
        .header("authorization", bearer)
        .header("cookie", &cookie)
        .header("origin", &format!("http://{host}"))
        .send("{}")
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Same origin with everything: reaches the runtime (nothing installed: 422, code 200).
    let mut r = a
        .post(&request)
        .header("authorization", bearer)
        .header("cookie", &cookie)
        .header("x-tollgate-csrf", &csrf)
        .header("origin", &format!("http://{host}"))
        .send("{}")
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"]["code"], 200);
}
