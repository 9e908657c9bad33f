//! The shop's handlers (routed by [`crate::api::router`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_authority::{
    AuthorityError, Order, OrderItem, OrderLine, PaymentEvent, PaymentOutcome,
};
use tollgate_core::LicenseKey;
use tollgate_protocol::shop::*;
use tollgate_service_kit::http::Body;
use tollgate_service_kit::ApiError;

use super::stripe::{LineItem, SessionSpec};
use super::{ItemKind, Shop};
use crate::api::AppState;
use crate::refusal::ledger_error;
use crate::store::unix_now;

type App = State<Arc<AppState>>;

/// The actor of the shop's ledger calls in the audit log.
pub const SHOP_ACTOR: &str = "shop";

fn shop(app: &AppState) -> Result<Arc<Shop>, ApiError> {
    app.shop.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            SHOP_CLOSED,
            "ShopClosed",
            "this service has no shop",
        )
    })
}

fn not_for_sale(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        NOT_FOR_SALE,
        "NotForSale",
        message,
    )
}

/// The license a key names, proved by the whole key.
async fn license_of(
    app: &AppState,
    key: &str,
) -> Result<tollgate_authority::LicenseRecord, ApiError> {
    let key = LicenseKey::parse(key.trim()).map_err(|e| ledger_error(AuthorityError::from(e)))?;
    app.store
        .run(SHOP_ACTOR, move |a| a.license_by_key(&key))
        .await
}

pub(crate) async fn offers(
    State(app): App,
    Body(b): Body<OffersIn>,
) -> Result<Json<OffersOut>, ApiError> {
    let shop = shop(&app)?;
    let license = match &b.license_key {
        Some(k) => Some(license_of(&app, k).await?),
        None => None,
    };
    let grant = license.as_ref().map(|l| &l.grant);
    let mut offers = Vec::new();
    for item in &shop.config.items {
        let oi = item
            .order_item()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if tollgate_authority::commerce::offered(grant, &item.feature, oi) {
            offers.push(Offer {
                sku: item.sku.clone(),
                name: item.name.clone(),
                feature: item.feature.clone(),
                kind: item.kind_name().into(),
                max_quantity: item.max_quantity(),
            });
        }
    }
    Ok(Json(OffersOut {
        product: shop.config.product.clone(),
        license_id: license.map(|l| l.id),
        offers,
    }))
}

pub(crate) async fn purchase(
    State(app): App,
    Body(b): Body<PurchaseIn>,
) -> Result<(StatusCode, Json<PurchaseOut>), ApiError> {
    let shop = shop(&app)?;
    let mut lines = Vec::new();
    let mut stripe_lines = Vec::new();
    for it in &b.items {
        let item = shop
            .item(&it.sku)
            .ok_or_else(|| not_for_sale(format!("`{}` is not for sale", it.sku)))?;
        let quantity = it.quantity.unwrap_or(1);
        if quantity == 0 || quantity > item.max_quantity() {
            return Err(not_for_sale(format!(
                "quantity of `{}` must be 1-{}",
                it.sku,
                item.max_quantity()
            )));
        }
        let oi = item
            .order_item()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        lines.push(OrderLine {
            sku: item.sku.clone(),
            feature: item.feature.clone(),
            item: oi,
            quantity,
        });
        stripe_lines.push(LineItem {
            price: item.price.clone(),
            quantity: (item.kind != ItemKind::Metered).then_some(quantity),
        });
    }
    let license = match &b.license_key {
        Some(k) => Some(license_of(&app, k).await?),
        None => None,
    };
    let order = Order {
        product: shop.config.product.clone(),
        upgrade_of: license.as_ref().map(|l| l.id),
        email: b.email.trim().to_owned(),
        models: shop.models,
        lines,
    };
    let o = order.clone();
    let new = app
        .store
        .run(SHOP_ACTOR, move |a| a.create_purchase(&o, unix_now()))
        .await?;
    let spec = SessionSpec {
        purchase_id: new.id,
        email: order.email.clone(),
        subscription: order
            .lines
            .iter()
            .any(|l| matches!(l.item, OrderItem::Metered { .. })),
        lines: stripe_lines,
        upgrade: license
            .as_ref()
            .zip(b.license_key.as_deref())
            .map(|(l, k)| (l.id, k.trim().to_owned())),
        success_url: shop
            .config
            .success_url
            .replace("{PURCHASE_ID}", &new.id.to_string()),
        cancel_url: shop.config.cancel_url.clone(),
    };
    let s = Arc::clone(&shop);
    let session = tokio::task::spawn_blocking(move || s.stripe.create_session(&spec))
        .await
        .map_err(|_| ApiError::internal("the Stripe call failed unexpectedly"))?
        .map_err(|e| {
            tracing::error!(purchase_id = new.id, error = %e, "checkout session not created");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                PAYMENT_PROVIDER,
                "PaymentProvider",
                e.0,
            )
        })?;
    let (id, sid) = (new.id, session.id.clone());
    app.store
        .run(SHOP_ACTOR, move |a| a.attach_checkout(id, &sid, unix_now()))
        .await?;
    tracing::info!(
        purchase_id = new.id,
        upgrade = order.upgrade_of.is_some(),
        "purchase created"
    );
    Ok((
        StatusCode::CREATED,
        Json(PurchaseOut {
            purchase_id: new.id,
            token: new.token.clone(),
            checkout_url: session.url.unwrap_or_default(),
            session_id: session.id,
        }),
    ))
}

pub(crate) async fn purchase_status(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<PurchaseStatusOut>, ApiError> {
    let shop = shop(&app)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let view = app
        .store
        .run(SHOP_ACTOR, move |a| {
            a.purchase_status(id, &token, &shop.seal)
        })
        .await?;
    Ok(Json(PurchaseStatusOut {
        purchase_id: view.id,
        status: view.state.name().into(),
        upgrade: view.order.upgrade_of.is_some(),
        license_id: view.license_id,
        revision: view.revision,
        license_key: view.license_key,
    }))
}

/// The part of a Stripe event the shop reads.
#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: StripeData,
}

#[derive(Deserialize)]
struct StripeData {
    object: StripeObject,
}

#[derive(Deserialize)]
struct StripeObject {
    #[serde(default)]
    id: String,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    customer: Option<String>,
}

pub(crate) async fn stripe_webhook(
    State(app): App,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOut>, ApiError> {
    let shop = shop(&app)?;
    let secrets: Vec<&str> = shop
        .config
        .stripe
        .webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    let sig = headers
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or_default());
    super::webhook::verify(
        sig,
        &body,
        &secrets,
        shop.config.stripe.tolerance_secs,
        unix_now(),
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "webhook refused");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            WEBHOOK_SIGNATURE,
            "WebhookSignature",
            e.to_string(),
        )
    })?;
    let ev: StripeEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a Stripe event: {e}")))?;
    let event = PaymentEvent {
        event_id: ev.id,
        event_type: ev.event_type,
        session_id: ev.data.object.id,
        purchase_id: ev
            .data
            .object
            .client_reference_id
            .as_deref()
            .and_then(|s| s.parse().ok()),
        paid: matches!(
            ev.data.object.payment_status.as_deref(),
            Some("paid" | "no_payment_required")
        ),
        customer: ev.data.object.customer,
    };
    let s = Arc::clone(&shop);
    let e = event.clone();
    let outcome = app
        .store
        .run(SHOP_ACTOR, move |a| {
            a.payment_event(&e, &s.seal, unix_now())
        })
        .await?;
    tracing::info!(
        event_id = event.event_id,
        event_type = event.event_type,
        outcome = outcome.name(),
        "stripe event"
    );
    if let PaymentOutcome::Delivered(d) = &outcome {
        tracing::info!(
            purchase_id = d.purchase_id,
            license_id = d.license_id,
            revision = d.revision,
            "purchase delivered"
        );
        if shop.mailer.is_some() {
            let d = (**d).clone();
            let s = Arc::clone(&shop);
            // The ledger is committed: a mail failure is logged (the key stays available
            // from the purchase's status), never answered to Stripe as a failure.
            let sent = tokio::task::spawn_blocking(move || match &s.mailer {
                Some(m) => m.send(&d).map_err(|e| e.to_string()),
                None => Ok(()),
            })
            .await;
            match sent {
                Ok(Ok(())) => tracing::info!(purchase_id = event.purchase_id, "key e-mailed"),
                Ok(Err(e)) => tracing::error!(error = %e, "delivery mail not sent"),
                Err(_) => tracing::error!("delivery mail task failed"),
            }
        }
    }
    Ok(Json(WebhookOut {
        received: true,
        outcome: outcome.name().into(),
    }))
}

/// Query of `GET /v1/admin/purchases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurchasesQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// One purchase in the admin list (no token, no key).
#[derive(Debug, Serialize)]
pub(crate) struct AdminPurchaseOut {
    purchase_id: u64,
    status: &'static str,
    upgrade: bool,
    product: String,
    email: String,
    items: Vec<serde_json::Value>,
    license_id: Option<u64>,
    revision: Option<u32>,
    session_id: Option<String>,
    customer: Option<String>,
    note: Option<String>,
    created_at: u64,
    updated_at: u64,
}

pub(crate) async fn admin_purchases(
    State(app): App,
    q: Result<Query<PurchasesQuery>, QueryRejection>,
) -> Result<Json<Vec<AdminPurchaseOut>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let state = q
        .status
        .as_deref()
        .map(|s| {
            tollgate_authority::PurchaseState::from_name(s)
                .ok_or_else(|| ApiError::bad_request(format!("unknown purchase status `{s}`")))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).min(10_000);
    let list = app
        .store
        .run(crate::store::ADMIN_ACTOR, move |a| {
            a.list_purchases(state, limit)
        })
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|p| AdminPurchaseOut {
                purchase_id: p.id,
                status: p.state.name(),
                upgrade: p.order.upgrade_of.is_some(),
                product: p.order.product.clone(),
                email: p.order.email.clone(),
                items: p
                    .order
                    .lines
                    .iter()
                    .map(|l| serde_json::json!({"sku": l.sku, "quantity": l.quantity}))
                    .collect(),
                license_id: p.license_id,
                revision: p.revision,
                session_id: p.session_id,
                customer: p.customer,
                note: p.note,
                created_at: p.created_at,
                updated_at: p.updated_at,
            })
            .collect(),
    ))
}
