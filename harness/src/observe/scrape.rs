//! The server's own view of a run: its Prometheus metrics endpoint scraped at the start and
//! at the end of the measured window, and what moved in between (counters, and the
//! quantiles of its latency histograms over the window's observations alone).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bound on one scrape.
const SCRAPE_BOUND: Duration = Duration::from_secs(10);

/// Series that moved, at most this many kept (the largest first).
const MAX_COUNTERS: usize = 50;

/// One scrape: every sample as `name{labels}`: counters, gauges and untyped values, and
/// histograms' cumulative buckets (upper bound, count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsScrape {
    pub values: BTreeMap<String, f64>,
    pub histograms: BTreeMap<String, Vec<(f64, f64)>>,
}

/// What the server's metrics say about the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// Where they were scraped.
    pub url: String,
    /// Counters (and untyped values) that grew over the window, by series, the largest
    /// first ([`MAX_COUNTERS`] at most).
    pub counters: Vec<(String, f64)>,
    /// Histograms that had observations in the window, by series.
    pub histograms: BTreeMap<String, ServerHistogram>,
}

/// A histogram's observations in the window, with quantiles interpolated within buckets
/// (as Prometheus's `histogram_quantile`), in the histogram's own unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerHistogram {
    pub count: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Why a scrape gave nothing.
#[derive(Debug, thiserror::Error)]
#[error("scraping {url}: {reason}")]
pub struct ScrapeError {
    pub url: String,
    pub reason: String,
}

/// Scrapes `url` once.
pub async fn scrape(url: &str) -> Result<MetricsScrape, ScrapeError> {
    let bad = |reason: String| ScrapeError {
        url: url.to_string(),
        reason,
    };
    let fetch = async {
        let response = reqwest::get(url).await.map_err(|e| bad(e.to_string()))?;
        if !response.status().is_success() {
            return Err(bad(format!("HTTP {}", response.status())));
        }
        response.text().await.map_err(|e| bad(e.to_string()))
    };
    let body = tokio::time::timeout(SCRAPE_BOUND, fetch)
        .await
        .map_err(|_| bad(format!("no answer in {} s", SCRAPE_BOUND.as_secs())))??;
    parse(&body).map_err(bad)
}

/// Parses the Prometheus (or OpenMetrics) text format.
pub fn parse(text: &str) -> Result<MetricsScrape, String> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| e.to_string())?;
    let mut out = MetricsScrape::default();
    for sample in scrape.samples {
        let mut labels: Vec<(&String, &String)> = sample.labels.iter().collect();
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let series = if labels.is_empty() {
            sample.metric.clone()
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => {
                out.values.insert(series, v);
            }
            prometheus_parse::Value::Histogram(buckets) => {
                let mut b: Vec<(f64, f64)> =
                    buckets.iter().map(|c| (c.less_than, c.count)).collect();
                b.sort_by(|x, y| x.0.total_cmp(&y.0));
                out.histograms.insert(series, b);
            }
            prometheus_parse::Value::Summary(_) => {}
        }
    }
    Ok(out)
}

/// What moved between `before` and `after`, scraped at `url`.
pub fn server_view(url: &str, before: &MetricsScrape, after: &MetricsScrape) -> ServerView {
    let mut counters: Vec<(String, f64)> = after
        .values
        .iter()
        .filter(|(series, _)| {
            // Counters only: OpenMetrics names their samples `_total`; gauges that moved
            // (memory, in flight) are not a count of the window's work.
            series
                .split('{')
                .next()
                .is_some_and(|n| n.ends_with("_total"))
        })
        .filter_map(|(series, v)| {
            let delta = v - before.values.get(series).copied().unwrap_or(0.0);
            (delta > 0.0).then(|| (series.clone(), delta))
        })
        .collect();
    counters.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    counters.truncate(MAX_COUNTERS);
    let histograms = after
        .histograms
        .iter()
        .filter_map(|(series, buckets)| {
            let earlier = before.histograms.get(series);
            let delta: Vec<(f64, f64)> = buckets
                .iter()
                .map(|&(le, n)| {
                    let was = earlier
                        .and_then(|b| b.iter().find(|(l, _)| *l == le))
                        .map_or(0.0, |(_, n)| *n);
                    (le, (n - was).max(0.0))
                })
                .collect();
            let count = delta.last().map_or(0.0, |(_, n)| *n);
            (count > 0.0).then(|| {
                (
                    series.clone(),
                    ServerHistogram {
                        count,
                        p50: quantile(&delta, 0.50),
                        p95: quantile(&delta, 0.95),
                        p99: quantile(&delta, 0.99),
                    },
                )
            })
        })
        .collect();
    ServerView {
        url: url.to_string(),
        counters,
        histograms,
    }
}

/// The `q` quantile of cumulative `buckets` (upper bound, count), linear within the bucket
/// it falls in; the highest finite bound when it falls in the `+Inf` bucket.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    let rank = q * total;
    let mut below = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return below.0;
            }
            let in_bucket = n - below.1;
            let share = if in_bucket > 0.0 {
                (rank - below.1) / in_bucket
            } else {
                1.0
            };
            return below.0 + (le - below.0) * share;
        }
        below = (le, n);
    }
    below.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# TYPE reqs counter\nreqs_total{method=\"a\"} 10\n# TYPE lat histogram\nlat_bucket{method=\"a\",le=\"0.001\"} 5\nlat_bucket{method=\"a\",le=\"0.002\"} 10\nlat_bucket{method=\"a\",le=\"+Inf\"} 10\nlat_sum{method=\"a\"} 0.01\nlat_count{method=\"a\"} 10\n# EOF\n";
    const AFTER: &str = "# TYPE reqs counter\nreqs_total{method=\"a\"} 110\n# TYPE lat histogram\nlat_bucket{method=\"a\",le=\"0.001\"} 5\nlat_bucket{method=\"a\",le=\"0.002\"} 110\nlat_bucket{method=\"a\",le=\"+Inf\"} 110\nlat_sum{method=\"a\"} 0.2\nlat_count{method=\"a\"} 110\n# EOF\n";

    #[test]
    fn the_window_is_what_moved_between_the_scrapes() {
        let (a, b) = (parse(BEFORE).unwrap(), parse(AFTER).unwrap());
        let v = server_view("http://x/metrics", &a, &b);
        assert_eq!(
            v.counters,
            vec![("reqs_total{method=\"a\"}".to_string(), 100.0)]
        );
        let h = &v.histograms["lat{method=\"a\"}"];
        assert_eq!(h.count, 100.0);
        // All 100 of the window's observations are in (1 ms, 2 ms]: the median halfway.
        assert!((h.p50 - 0.0015).abs() < 1e-12, "{h:?}");
        assert!((h.p99 - 0.00199).abs() < 1e-12, "{h:?}");
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let b = [(1.0, 50.0), (2.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&b, 0.5), 1.0);
        assert_eq!(quantile(&b, 0.75), 1.5);
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 4.0)], 0.5), 1.0);
    }
}
