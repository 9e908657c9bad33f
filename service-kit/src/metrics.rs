//! Prometheus metrics in the text exposition format, kept by hand (a few counters and
//! histograms need no library).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tollgate_requests_total` | counter | `endpoint`, `outcome` (`ok` or the error's name) |
//! | `tollgate_request_duration_seconds` | histogram | `endpoint` |
//! | `tollgate_rate_limited_total` | counter | |
//! | `tollgate_group_commit_batches_total` | counter | |
//! | `tollgate_group_commit_items_total` | counter | |
//! | `tollgate_group_commit_batch_size` | histogram | |
//! | `tollgate_rapid_transfers_total` | counter | |
//! | `tollgate_usage_reports_total` | counter | `verdict` (`merged`, `duplicate`, `gap`, `fork`, `rewritten`) |
//! | `tollgate_meter_events_total` | counter | `outcome` (`sent`, `failed`, `unbillable`, `expired`) |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Upper bounds of the batch size histogram's buckets.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (c, b) in self.counts.iter_mut().zip(bounds) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in bounds.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, &'static str), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    batch_size: Histogram,
    usage_reports: BTreeMap<&'static str, u64>,
    meter_events: BTreeMap<&'static str, u64>,
}

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    rate_limited: AtomicU64,
    batches: AtomicU64,
    batch_items: AtomicU64,
    rapid_transfers: AtomicU64,
}

impl Metrics {
    /// A request to `endpoint` (a route name such as `activate`) ended with `outcome` (`ok` or
    /// an error name) after `elapsed`.
    pub fn request(&self, endpoint: &'static str, outcome: &'static str, elapsed: Duration) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests.entry((endpoint, outcome)).or_insert(0) += 1;
        m.latency
            .entry(endpoint)
            .or_default()
            .observe(&LATENCY_BUCKETS, elapsed.as_secs_f64());
    }

    /// A new seat was a rapid transfer (taken soon after another seat of its license was
    /// freed: the clone-by-backup pattern).
    pub fn rapid_transfer(&self) {
        self.rapid_transfers.fetch_add(1, Ordering::Relaxed);
    }

    /// Rapid transfers counted so far.
    pub fn rapid_transfers(&self) -> u64 {
        self.rapid_transfers.load(Ordering::Relaxed)
    }

    /// A request was refused by the rate limiter.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The group-commit writer committed a batch of `items` activations.
    pub fn batch(&self, items: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_items
            .fetch_add(u64::try_from(items).unwrap_or(u64::MAX), Ordering::Relaxed);
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.batch_size.observe(&BATCH_BUCKETS, items as f64);
    }

    /// `n` usage reports were judged `verdict` (`merged`, `duplicate`, `gap`, `fork`,
    /// `rewritten`).
    pub fn usage_reports(&self, verdict: &'static str, n: u64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.usage_reports.entry(verdict).or_insert(0) += n;
    }

    /// Usage reports judged `verdict` so far.
    pub fn usage_reports_count(&self, verdict: &str) -> u64 {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.usage_reports.get(verdict).copied().unwrap_or(0)
    }

    /// `n` billing meter events ended a forwarding attempt with `outcome` (`sent`, `failed`,
    /// `unbillable`, `expired`).
    pub fn meter_events(&self, outcome: &'static str, n: u64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.meter_events.entry(outcome).or_insert(0) += n;
    }

    /// Meter events with `outcome` so far.
    pub fn meter_events_count(&self, outcome: &str) -> u64 {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.meter_events.get(outcome).copied().unwrap_or(0)
    }

    /// The count of requests to `endpoint` with `outcome` so far.
    pub fn count(&self, endpoint: &str, outcome: &str) -> u64 {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.requests
            .iter()
            .filter(|((e, o), _)| *e == endpoint && *o == outcome)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP tollgate_requests_total Requests handled, by endpoint and outcome.\n");
        out.push_str("# TYPE tollgate_requests_total counter\n");
        for ((e, o), n) in &m.requests {
            let _ = writeln!(
                out,
                "tollgate_requests_total{{endpoint=\"{e}\",outcome=\"{o}\"}} {n}"
            );
        }
        out.push_str("# HELP tollgate_request_duration_seconds Request latency, by endpoint.\n");
        out.push_str("# TYPE tollgate_request_duration_seconds histogram\n");
        for (e, h) in &m.latency {
            h.render(
                &mut out,
                "tollgate_request_duration_seconds",
                &format!("endpoint=\"{e}\""),
                &LATENCY_BUCKETS,
            );
        }
        let counters = [
            (
                "tollgate_rate_limited_total",
                "Requests refused by the failed-attempt rate limit.",
                &self.rate_limited,
            ),
            (
                "tollgate_group_commit_batches_total",
                "Activation batches committed by the group-commit writer.",
                &self.batches,
            ),
            (
                "tollgate_group_commit_items_total",
                "Activations answered by the group-commit writer.",
                &self.batch_items,
            ),
            (
                "tollgate_rapid_transfers_total",
                "New seats taken soon after another seat of the license was freed.",
                &self.rapid_transfers,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        let labelled = [
            (
                "tollgate_usage_reports_total",
                "Metered usage reports judged, by verdict (merged or flagged).",
                "verdict",
                &m.usage_reports,
            ),
            (
                "tollgate_meter_events_total",
                "Billing meter events forwarded, by outcome.",
                "outcome",
                &m.meter_events,
            ),
        ];
        for (name, help, label, values) in labelled {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (l, n) in values {
                let _ = writeln!(out, "{name}{{{label}=\"{l}\"}} {n}");
            }
        }
        out.push_str("# HELP tollgate_group_commit_batch_size Activations per committed batch.\n");
        out.push_str("# TYPE tollgate_group_commit_batch_size histogram\n");
        m.batch_size.render(
            &mut out,
            "tollgate_group_commit_batch_size",
            "",
            &BATCH_BUCKETS,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("activate", "ok", Duration::from_millis(3));
        m.request("activate", "SeatsExhausted", Duration::from_millis(30));
        m.batch(5);
        m.rapid_transfer();
        let text = m.render();
        assert!(text.contains("tollgate_rapid_transfers_total 1\n"));
        assert!(text.contains("tollgate_requests_total{endpoint=\"activate\",outcome=\"ok\"} 1"));
        assert!(text.contains(
            "tollgate_request_duration_seconds_bucket{endpoint=\"activate\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "tollgate_request_duration_seconds_bucket{endpoint=\"activate\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("tollgate_group_commit_batch_size_bucket{le=\"8\"} 1"));
        assert!(text.contains("tollgate_group_commit_items_total 5"));
        assert_eq!(m.count("activate", "ok"), 1);
        m.usage_reports("merged", 3);
        m.usage_reports("fork", 1);
        m.usage_reports("merged", 2);
        m.meter_events("unbillable", 1);
        let text = m.render();
        assert!(text.contains(
            "# TYPE tollgate_usage_reports_total counter\n\
             tollgate_usage_reports_total{verdict=\"fork\"} 1\n\
             tollgate_usage_reports_total{verdict=\"merged\"} 5\n"
        ));
        assert!(text.contains(
            "# TYPE tollgate_meter_events_total counter\n\
             tollgate_meter_events_total{outcome=\"unbillable\"} 1\n# HELP"
        ));
        assert_eq!(
            (
                m.usage_reports_count("merged"),
                m.meter_events_count("sent")
            ),
            (5, 0)
        );
    }
}
