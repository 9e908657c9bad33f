//! The axum adapter (feature `axum`): [`router`] for a host that mounts the page in its own
//! axum app, [`serve`] for a stand-alone listener (`tollgate host ui`).

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request as AxRequest, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response as AxResponse;
use axum::routing::any;
use axum::Router;
use tokio::net::TcpListener;
use tollgate_protocol::page::MAX_BODY;

use crate::{LicensePage, Request, Response};

/// The page's router: its assets and its API, every path answered by
/// [`LicensePage::handle`]. Mount it with `Router::nest("/license", router(page))` and link
/// to `/license/` (with the slash: the page's URLs are relative).
pub fn router(page: Arc<LicensePage>) -> Router {
    Router::new()
        .route("/", any(handle))
        .route("/{*rest}", any(handle))
        .with_state(page)
}

async fn handle(State(page): State<Arc<LicensePage>>, req: AxRequest) -> AxResponse {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY + 1).await {
        Ok(b) => b,
        Err(_) => {
            return convert(Response::error(
                413,
                413,
                "TooLarge",
                "the body is too large",
            ))
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        page.handle(&Request {
            method: &method,
            path: &path,
            headers: &headers,
            body: &body,
        })
    })
    .await
    .unwrap_or_else(|_| Response::error(500, 500, "Internal", "the handler failed"));
    convert(answer)
}

fn convert(r: Response) -> AxResponse {
    let mut out = AxResponse::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            out.headers_mut().append(HeaderName::from_static(k), v);
        }
    }
    out
}

/// Serves [`router`] on `listener` until `shutdown` completes. Check the address with
/// [`crate::check_listen`] before binding it.
pub async fn serve(
    page: Arc<LicensePage>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(page))
        .with_graceful_shutdown(shutdown)
        .await
}
