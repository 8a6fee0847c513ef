//! Figures read from a server's `/metrics`, for the benchmarks.

use std::collections::HashMap;

use super::Server;

/// The samples of one metric family from `/metrics`: labels → value.
pub async fn metric(http: &reqwest::Client, s: &Server, name: &str) -> Vec<(String, f64)> {
    let text = http.get(s.url("/metrics")).send().await.expect("metrics").text().await.expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let labels = key.strip_prefix(name)?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            Some((labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Per camera, analyses that were done (detected or unchanged).
pub async fn done(http: &reqwest::Client, s: &Server) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for (labels, v) in metric(http, s, "smartpark_analyses_total").await {
        if labels.contains("outcome=\"detected\"") || labels.contains("outcome=\"unchanged\"") {
            let camera = labels.split("camera=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
            *out.entry(camera).or_insert(0.0) += v;
        }
    }
    out
}

pub async fn failed(http: &reqwest::Client, s: &Server) -> f64 {
    metric(http, s, "smartpark_analyses_total")
        .await
        .iter()
        .filter(|(l, _)| l.contains("outcome=\"failed\""))
        .map(|(_, v)| v)
        .sum()
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
