//! Instant delivery: the license key (or an upgrade's confirmation) e-mailed through SMTP
//! with `lettre`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use tollgate_authority::Delivery;
use tollgate_service_kit::config::ConfigError;

use super::{SmtpConfig, SmtpTls};

/// Parses `Name <addr>` or `addr`.
pub fn parse_mailbox(s: &str) -> Result<Mailbox, lettre::address::AddressError> {
    s.parse()
}

/// Sends the shop's mails.
pub struct Mailer {
    from: Mailbox,
    transport: SmtpTransport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The address or the message is invalid.
    #[error("mail: {0}")]
    Message(String),
    /// The SMTP server could not be reached or refused.
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl Mailer {
    /// A mailer for `cfg`.
    pub fn new(cfg: &SmtpConfig) -> Result<Self, ConfigError> {
        let from = parse_mailbox(&cfg.from)
            .map_err(|_| ConfigError::new("shop.smtp.from is not a mail address"))?;
        let builder = match cfg.tls {
            SmtpTls::None => SmtpTransport::builder_dangerous(&cfg.host),
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&cfg.host)
                .map_err(|e| ConfigError::new(format!("shop.smtp: {e}")))?,
            SmtpTls::Tls => SmtpTransport::relay(&cfg.host)
                .map_err(|e| ConfigError::new(format!("shop.smtp: {e}")))?,
        };
        let mut builder = builder
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
        }
        Ok(Mailer {
            from,
            transport: builder.build(),
        })
    }

    /// The message for a delivery: subject and plain-text body.
    pub fn compose(d: &Delivery) -> (String, String) {
        let items: Vec<String> = d
            .order
            .lines
            .iter()
            .map(|l| match l.item {
                tollgate_authority::OrderItem::Years => {
                    format!("  - {} ({} year(s))", l.feature, l.quantity)
                }
                _ => format!("  - {}", l.feature),
            })
            .collect();
        match &d.key {
            Some(key) => (
                format!("Your {} license key", d.product),
                format!(
                    "Thank you for your purchase.\r\n\r\nLicense key: {}\r\n\r\nLicense {} \
                     (revision {}) includes:\r\n{}\r\n\r\nActivate it on the License page: \
                     choose Online and paste the key.\r\n",
                    key.expose(),
                    d.license_id,
                    d.revision,
                    items.join("\r\n")
                ),
            ),
            None => (
                format!("Your {} license was upgraded", d.product),
                format!(
                    "Thank you for your purchase.\r\n\r\nLicense {} is now at revision {} \
                     with:\r\n{}\r\n\r\nClick Reactivate on the License page to apply it.\r\n",
                    d.license_id,
                    d.revision,
                    items.join("\r\n")
                ),
            ),
        }
    }

    /// Sends the delivery's mail (blocking: call it on a blocking thread).
    pub fn send(&self, d: &Delivery) -> Result<(), MailError> {
        let to: Mailbox = d
            .email
            .parse()
            .map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let (subject, body) = Self::compose(d);
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(&msg)?;
        Ok(())
    }
}
