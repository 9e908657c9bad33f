//! The Stripe API calls the shop makes, as form posts over HTTPS with `ureq`, against a
//! configurable base URL (stripe-mock in tests). Every call carries an `Idempotency-Key`, so
//! a retried call never creates a second session.

use std::time::Duration;

use serde::Deserialize;
use tollgate_service_kit::config::Secret;

use super::StripeConfig;

/// A Stripe call that failed: unreachable, or an error answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Stripe: {0}")]
pub struct StripeError(pub String);

/// The Stripe client.
pub struct Stripe {
    base: String,
    key: Secret,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A created Checkout Session.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// `cs_…`.
    pub id: String,
    /// The hosted payment page.
    pub url: Option<String>,
}

/// One line item of a Checkout Session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItem {
    /// The Stripe price id.
    pub price: String,
    /// The quantity, or `None` for a metered price (Stripe refuses a quantity there).
    pub quantity: Option<u32>,
}

/// What a Checkout Session is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    /// Our purchase id (`client_reference_id`, `metadata[purchase_id]`).
    pub purchase_id: u64,
    /// The customer's e-mail address.
    pub email: String,
    /// The items.
    pub lines: Vec<LineItem>,
    /// `subscription` when a recurring (metered) price is in it, else `payment`.
    pub subscription: bool,
    /// The license upgraded: its id and key (pre-filled on the page).
    pub upgrade: Option<(u64, String)>,
    /// Return URLs.
    pub success_url: String,
    /// Return URL on cancel.
    pub cancel_url: String,
}

impl SessionSpec {
    /// The form fields of `POST /v1/checkout/sessions`.
    pub fn form(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = vec![
            (
                "mode".into(),
                if self.subscription {
                    "subscription"
                } else {
                    "payment"
                }
                .into(),
            ),
            ("client_reference_id".into(), self.purchase_id.to_string()),
            ("customer_email".into(), self.email.clone()),
            ("success_url".into(), self.success_url.clone()),
            ("cancel_url".into(), self.cancel_url.clone()),
            ("metadata[purchase_id]".into(), self.purchase_id.to_string()),
        ];
        for (i, l) in self.lines.iter().enumerate() {
            f.push((format!("line_items[{i}][price]"), l.price.clone()));
            if let Some(q) = l.quantity {
                f.push((format!("line_items[{i}][quantity]"), q.to_string()));
            }
        }
        if let Some((id, key)) = &self.upgrade {
            f.push(("metadata[license_id]".into(), id.to_string()));
            // The license key, pre-filled on the Stripe page as the customer expects; the
            // purchase itself is bound to the license server-side, whatever is typed there.
            f.push(("custom_fields[0][key]".into(), "license_key".into()));
            f.push(("custom_fields[0][type]".into(), "text".into()));
            f.push(("custom_fields[0][label][type]".into(), "custom".into()));
            f.push((
                "custom_fields[0][label][custom]".into(),
                "License key".into(),
            ));
            f.push(("custom_fields[0][text][default_value]".into(), key.clone()));
        }
        f
    }
}

impl Stripe {
    /// A client for `config`.
    pub fn new(config: &StripeConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Stripe {
            base: config.api_base.trim_end_matches('/').to_owned(),
            key: config.secret_key.clone(),
            agent,
        }
    }

    fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<T, StripeError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("authorization", &format!("Bearer {}", self.key.expose()))
            .header("idempotency-key", idempotency_key)
            .send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| StripeError(format!("unreachable: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| StripeError(format!("reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(StripeError(format!("HTTP {status}: {msg}")));
        }
        serde_json::from_str(&text).map_err(|e| StripeError(format!("unexpected answer: {e}")))
    }

    /// Creates a Checkout Session (idempotency key `tollgate-purchase-<id>`).
    pub fn create_session(&self, spec: &SessionSpec) -> Result<Session, StripeError> {
        let s: Session = self.post(
            "/v1/checkout/sessions",
            &format!("tollgate-purchase-{}", spec.purchase_id),
            &spec.form(),
        )?;
        if s.url.as_deref().is_none_or(str::is_empty) || s.id.is_empty() {
            return Err(StripeError("the session has no id or URL".into()));
        }
        Ok(s)
    }

    /// Posts one billing meter event; `identifier` is also the idempotency key, so a retry is
    /// never billed twice.
    pub fn meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: u64,
        identifier: &str,
        timestamp: u64,
    ) -> Result<(), StripeError> {
        let form = vec![
            ("event_name".to_owned(), event_name.to_owned()),
            ("identifier".to_owned(), identifier.to_owned()),
            ("timestamp".to_owned(), timestamp.to_string()),
            (
                "payload[stripe_customer_id]".to_owned(),
                customer.to_owned(),
            ),
            ("payload[value]".to_owned(), value.to_string()),
        ];
        let _: serde_json::Value = self.post("/v1/billing/meter_events", identifier, &form)?;
        Ok(())
    }
}
