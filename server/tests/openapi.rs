//! The OpenAPI document describes exactly the routes the router serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;
use tollgate_server::{OPENAPI, ROUTES};

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// The `.route("PATH", get(..).post(..))` calls in the router's source.
fn in_router_source() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(crate_file("src/api.rs")).unwrap();
    let body = &src[src.find("pub fn router(").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let start = rest.find('"').unwrap() + 1;
        let len = rest[start..].find('"').unwrap();
        let path = rest[start..start + len].to_owned();
        // The handlers: up to the parenthesis closing `.route(`.
        let mut depth = 1;
        let mut end = 0;
        for (j, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handlers = &rest[start + len..end];
        for m in ["get", "post", "put", "patch", "delete"] {
            if handlers.contains(&format!("{m}(")) || handlers.contains(&format!(".{m}(")) {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(out.len() >= 10, "parsed {out:?}");
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(in_router_source(), table, "the router and ROUTES");
    assert_eq!(documented(), table, "openapi.json and ROUTES");
}

#[test]
fn every_documented_route_answers_on_the_live_router() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let url = server.url();
    let (st, served) = call(&url, "GET", "/openapi.json", None, None);
    assert_eq!(st, 200);
    assert_eq!(served, serde_json::from_str::<Value>(OPENAPI).unwrap());
    for (method, path) in documented() {
        let concrete = path.replace("{id}", "1").replace("{activation_id}", "1");
        let (status, body) = admin(
            &url,
            &method,
            &concrete,
            Some(Value::Object(Default::default())),
        );
        assert!(
            status != 404 || code(&body) != 404,
            "{method} {path} is not routed: {status} {body}"
        );
        assert_ne!(status, 405, "{method} {path}");
    }
}
