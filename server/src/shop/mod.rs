//! The shop (issue 15): a catalogue in the configuration, purchases through Stripe Checkout,
//! Stripe's signed webhook, and instant delivery of the key by e-mail and by the purchase's
//! status.
//!
//! ```toml
//! [shop]
//! product = "chariot"
//! models = ["online"]                       # deployment models of a license bought here
//! success_url = "https://vendor.example/license?purchase={PURCHASE_ID}"
//! cancel_url = "https://vendor.example/license"
//! delivery_secret = "…"                     # seals keys at rest in the ledger (≥ 32 chars)
//!
//! meter_interval_secs = 60                 # metered usage → Stripe meter events (0: off)
//!
//! [shop.stripe]
//! api_base = "https://api.stripe.com"       # stripe-mock in tests
//! secret_key = "sk_live_…"
//! webhook_secrets = ["whsec_…"]             # several while rotating
//! tolerance_secs = 300
//!
//! [[shop.items]]
//! sku = "mqtt-server"
//! name = "MQTT Server"
//! feature = "mqtt-server"
//! kind = "perpetual"                        # or "years" (quantity = years) or "metered"
//! price = "price_…"
//!
//! [shop.smtp]
//! host = "smtp.vendor.example"
//! port = 587
//! tls = "starttls"                          # or "tls" (implicit) or "none" (loopback only)
//! from = "Licensing <licensing@vendor.example>"
//! username = "…"                            # optional, with password
//! password = "…"
//! ```
//!
//! Stripe is called with plain HTTPS through `ureq` (already the workspace's HTTP client): the
//! two calls the shop makes (create a Checkout Session, later post meter events) are small
//! form posts, and a blocking client fits the service's blocking ledger threads. The key is
//! e-mailed with `lettre`.

pub mod api;
pub mod mail;
pub mod stripe;
pub mod webhook;

use serde::Deserialize;
use tollgate_authority::{DeliverySeal, OrderItem};
use tollgate_core::{DeploymentModel, MeterPeriod, Models};
use tollgate_service_kit::config::{ConfigError, Secret};

/// The `[shop]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The product every item is a feature of.
    pub product: String,
    /// Deployment models of a license bought here. Default `["online"]`.
    #[serde(default = "default_models")]
    pub models: Vec<String>,
    /// Where Stripe sends the customer after paying; `{PURCHASE_ID}` is replaced.
    pub success_url: String,
    /// Where Stripe sends the customer who cancels.
    pub cancel_url: String,
    /// Seals new licenses' keys at rest in the ledger (at least 32 characters).
    pub delivery_secret: Secret,
    /// Stripe.
    pub stripe: StripeConfig,
    /// What is for sale.
    pub items: Vec<CatalogueItem>,
    /// The mail server the keys are sent through; without it, keys are only shown by the
    /// purchase's status.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// How often merged metered usage is forwarded to Stripe's billing meter events
    /// (seconds; 0: never, e.g. when another replica forwards). Default 60.
    #[serde(default = "default_meter_interval")]
    pub meter_interval_secs: u64,
}

fn default_meter_interval() -> u64 {
    60
}

fn default_models() -> Vec<String> {
    vec!["online".into()]
}

/// `[shop.stripe]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// Base URL of the Stripe API. Default `https://api.stripe.com`.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The secret API key.
    pub secret_key: Secret,
    /// The webhook endpoint's signing secrets (`whsec_…`); several while rotating.
    pub webhook_secrets: Vec<Secret>,
    /// How old (or how far ahead) a webhook signature's timestamp may be. Default 300 s.
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_api_base() -> String {
    "https://api.stripe.com".into()
}

fn default_tolerance() -> u64 {
    300
}

/// What a catalogue item grants.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Bought once.
    Perpetual,
    /// Years of a subscription; always for sale.
    Years,
    /// Metered (a recurring usage-based Stripe price).
    Metered,
}

/// One `[[shop.items]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CatalogueItem {
    /// Item id used by the API.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// The license feature it grants.
    pub feature: String,
    /// What it grants.
    pub kind: ItemKind,
    /// The Stripe price id.
    pub price: String,
    /// Most years in one purchase (`years` only). Default 5.
    #[serde(default)]
    pub max_years: Option<u32>,
    /// Units per period written in the license (`metered` only).
    #[serde(default)]
    pub quota: Option<u64>,
    /// `day`, `month` or `year` (`metered` only).
    #[serde(default)]
    pub period: Option<String>,
    /// The Stripe billing meter's event name (`metered` only).
    #[serde(default)]
    pub meter: Option<String>,
}

impl CatalogueItem {
    /// The largest quantity one purchase may carry.
    pub fn max_quantity(&self) -> u32 {
        match self.kind {
            ItemKind::Years => self.max_years.unwrap_or(5),
            _ => 1,
        }
    }

    /// The order item this catalogue item becomes.
    pub fn order_item(&self) -> Result<OrderItem, ConfigError> {
        Ok(match self.kind {
            ItemKind::Perpetual => OrderItem::Perpetual,
            ItemKind::Years => OrderItem::Years,
            ItemKind::Metered => OrderItem::Metered {
                quota: self.quota.ok_or_else(|| {
                    ConfigError::new(format!("shop item `{}`: metered needs quota", self.sku))
                })?,
                period: self
                    .period
                    .as_deref()
                    .and_then(MeterPeriod::from_name)
                    .ok_or_else(|| {
                        ConfigError::new(format!(
                            "shop item `{}`: period must be day, month or year",
                            self.sku
                        ))
                    })?,
            },
        })
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            ItemKind::Perpetual => "perpetual",
            ItemKind::Years => "years",
            ItemKind::Metered => "metered",
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS on a plain connection (port 587).
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// No TLS: only for a relay on the same host or in tests.
    None,
}

/// `[shop.smtp]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Mail server host name.
    pub host: String,
    /// Port. Default 587.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Connection security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// The sender, e.g. `Licensing <licensing@vendor.example>`.
    pub from: String,
    /// Login (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<Secret>,
}

fn default_smtp_port() -> u16 {
    587
}

impl ShopConfig {
    /// Checks the section: names, secrets, items.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.delivery_secret.expose().len() < 32 {
            return Err(ConfigError::new(
                "shop.delivery_secret must be at least 32 characters",
            ));
        }
        if self.stripe.webhook_secrets.is_empty()
            || self
                .stripe
                .webhook_secrets
                .iter()
                .any(|s| s.expose().is_empty())
        {
            return Err(ConfigError::new(
                "shop.stripe.webhook_secrets: at least one secret",
            ));
        }
        if self.items.is_empty() {
            return Err(ConfigError::new("shop.items: at least one item"));
        }
        self.models()?;
        for (i, item) in self.items.iter().enumerate() {
            if self
                .items
                .iter()
                .skip(i + 1)
                .any(|o| o.sku == item.sku || o.feature == item.feature)
            {
                return Err(ConfigError::new(format!(
                    "shop item `{}`: sku and feature must be unique",
                    item.sku
                )));
            }
            tollgate_core::model::check_feature_name(&item.feature).map_err(|_| {
                ConfigError::new(format!("shop item `{}`: bad feature name", item.sku))
            })?;
            if item.price.is_empty() {
                return Err(ConfigError::new(format!("shop item `{}`: price", item.sku)));
            }
            if item.kind == ItemKind::Years && !(1..=10).contains(&item.max_quantity()) {
                return Err(ConfigError::new(format!(
                    "shop item `{}`: max_years must be 1-10",
                    item.sku
                )));
            }
            item.order_item()?;
        }
        if let Some(smtp) = &self.smtp {
            mail::parse_mailbox(&smtp.from)
                .map_err(|_| ConfigError::new("shop.smtp.from is not a mail address"))?;
        }
        Ok(())
    }

    /// The deployment models of a license bought here.
    pub fn models(&self) -> Result<Models, ConfigError> {
        let models = self
            .models
            .iter()
            .map(|m| {
                DeploymentModel::from_name(m)
                    .ok_or_else(|| ConfigError::new(format!("shop.models: unknown model `{m}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if models.is_empty() {
            return Err(ConfigError::new("shop.models: at least one model"));
        }
        Ok(Models::of(&models))
    }
}

/// The shop, ready to serve: configuration, the seal, the Stripe client and the mailer.
#[derive(Debug)]
pub struct Shop {
    /// The configuration.
    pub config: ShopConfig,
    /// Deployment models of licenses sold.
    pub models: Models,
    /// Seals keys at rest.
    pub seal: DeliverySeal,
    /// Stripe.
    pub stripe: stripe::Stripe,
    /// The mailer, if configured.
    pub mailer: Option<mail::Mailer>,
}

impl Shop {
    /// Checks `config` and builds the shop.
    pub fn new(config: ShopConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mailer = config.smtp.as_ref().map(mail::Mailer::new).transpose()?;
        Ok(Shop {
            models: config.models()?,
            seal: DeliverySeal::new(config.delivery_secret.expose().as_bytes()),
            stripe: stripe::Stripe::new(&config.stripe),
            mailer,
            config,
        })
    }

    /// The catalogue item `sku`.
    pub fn item(&self, sku: &str) -> Option<&CatalogueItem> {
        self.config.items.iter().find(|i| i.sku == sku)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::Config;

    const SHOP: &str = r#"
        [shop]
        product = "chariot"
        success_url = "https://v.example/ok?p={PURCHASE_ID}"
        cancel_url = "https://v.example/"
        delivery_secret = "0123456789abcdef0123456789abcdef"
        [shop.stripe]
        secret_key = "sk_test_x"
        webhook_secrets = ["whsec_a", "whsec_b"]
        [[shop.items]]
        sku = "mqtt-server"
        name = "MQTT Server"
        feature = "mqtt-server"
        kind = "perpetual"
        price = "price_1"
        [[shop.items]]
        sku = "snowflake"
        name = "IoT Bridge for Snowflake"
        feature = "snowflake"
        kind = "metered"
        price = "price_2"
        quota = 1000
        period = "month"
        meter = "snowflake_messages"
        [shop.smtp]
        host = "smtp.v.example"
        from = "Licensing <l@v.example>"
    "#;

    #[test]
    fn the_shop_section_parses_and_validates() {
        let cfg = Config::from_toml(SHOP).unwrap();
        cfg.validate().unwrap();
        let shop = cfg.shop.unwrap();
        assert_eq!(shop.stripe.api_base, "https://api.stripe.com");
        assert_eq!(shop.stripe.tolerance_secs, 300);
        assert_eq!(shop.models().unwrap(), tollgate_core::Models(1));
        assert_eq!(shop.smtp.as_ref().unwrap().port, 587);
        assert_eq!(shop.smtp.as_ref().unwrap().tls, super::SmtpTls::Starttls);
        assert!(!format!("{shop:?}").contains("sk_test_x"));
    }

    #[test]
    fn bad_shop_sections_are_refused() {
        for (from, to, why) in [
            (
                "0123456789abcdef0123456789abcdef",
                "short",
                "shop.delivery_secret must be at least 32 characters",
            ),
            (
                r#"["whsec_a", "whsec_b"]"#,
                "[]",
                "shop.stripe.webhook_secrets: at least one secret",
            ),
            (
                "period = \"month\"",
                "period = \"week\"",
                "shop item `snowflake`: period must be day, month or year",
            ),
            (
                "feature = \"snowflake\"",
                "feature = \"mqtt-server\"",
                "shop item `mqtt-server`: sku and feature must be unique",
            ),
            (
                "Licensing <l@v.example>",
                "nobody",
                "shop.smtp.from is not a mail address",
            ),
        ] {
            let cfg = Config::from_toml(&SHOP.replace(from, to)).unwrap();
            assert_eq!(
                cfg.validate().unwrap_err().to_string(),
                format!("configuration: {why}")
            );
        }
    }
}
