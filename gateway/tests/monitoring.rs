//! What operations load into Prometheus and Grafana
//! (`deploy/monitoring/`) asks only for metrics a real gateway exposes: every
//! `samsyn_*` and `process_*` name in the alert rules and the dashboard is
//! declared in the `/metrics` of a gateway serving TLS, and each alert has
//! an expression, a duration and a summary.
//!
//! In a private network namespace; needs root.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::netns::{self, GATEWAY_IP};
use support::{Gateway, runtime};

const ALERTS: &str = include_str!("../../deploy/monitoring/samsyn-alerts.yml");
const DASHBOARD: &str = include_str!("../../deploy/monitoring/samsyn-gateway-dashboard.json");

/// The metric names an expression uses: `samsyn_…` and `process_…` words,
/// with the suffixes Prometheus adds to a family's name taken off.
fn metric_names(expressions: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expression in expressions {
        for word in expression.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !(word.starts_with("samsyn_") || word.starts_with("process_")) {
                continue;
            }
            let family = ["_bucket", "_total", "_count", "_sum"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word);
            names.insert(family.to_owned());
        }
    }
    names
}

/// Each rule's `expr`, from the rules file's text (a rule's expression is
/// one line, or a `|` block indented under it).
fn alert_expressions(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut expressions = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value != "|" {
            expressions.push(value.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        expressions.push(block.join(" "));
    }
    expressions
}

fn dashboard_expressions(dashboard: &serde_json::Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| {
            target["expr"]
                .as_str()
                .expect("every target has an expression")
                .to_owned()
        })
        .collect()
}

#[test]
fn every_alert_has_what_prometheus_and_the_on_call_person_need() {
    let alerts = ALERTS.matches("- alert:").count();
    assert!(
        alerts >= 5,
        "gateway down, reconnecting, loss, CPU, certificate"
    );
    for key in ["expr:", "for:", "severity:", "summary:", "description:"] {
        assert_eq!(ALERTS.matches(key).count(), alerts, "every alert has {key}");
    }
    let expressions = alert_expressions(ALERTS);
    assert_eq!(expressions.len(), alerts);
    assert!(
        expressions.iter().any(
            |e| e.contains("samsyn_tls_certificate_expiry_timestamp_seconds")
                && e.contains("14 * 86400")
        ),
        "{expressions:?}"
    );
}

#[test]
fn the_rules_and_the_dashboard_ask_only_for_metrics_the_gateway_has() {
    if !netns::isolate("the_rules_and_the_dashboard_ask_only_for_metrics_the_gateway_has") {
        return;
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut wanted = metric_names(&alert_expressions(ALERTS));
    wanted.extend(metric_names(&dashboard_expressions(&dashboard)));
    assert!(wanted.len() >= 15, "{wanted:?}");

    let gateway = Gateway::start_tls(GATEWAY_IP);
    gateway.create_room();
    // The families with labels (peers by path, drops by reason) are filled
    // in, every label at 0, at the media loop's first report.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (scraped, missing) = loop {
        let scraped = runtime().block_on(gateway.scrape_metrics());
        let declared: BTreeSet<&str> = scraped
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|name| !declared.contains(name.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (scraped, missing);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        missing.is_empty(),
        "the rules or the dashboard ask for {missing:?}, which /metrics does not declare:\n{scraped}"
    );
}
