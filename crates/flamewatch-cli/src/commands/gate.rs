//! `flamewatch gate`: asks a running service's management API for its deploy verdict and
//! turns it into the exit code (0 pass, 1 block, 3 warn, 2 error). Also home of the small
//! blocking client `flamewatch status` shares.

use crate::Outcome;
use anyhow::{Context, bail};
use clap::Args;
use flamewatch_core::severity::Severity;
use std::io::Write;
use std::time::Duration;

/// The management API's default path prefix, added to URLs given without a path.
const DEFAULT_PREFIX: &str = "/api/code-intelligence/dynamic-profiling";

/// Connection options shared by the commands that talk to a running service.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The service's management API: `http://HOST:PORT` (the default prefix
    /// `/api/code-intelligence/dynamic-profiling` is added) or a full base URL.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Bearer token of the API; default: the `FLAMEWATCH_TOKEN` environment variable.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Give up on a request after this long (e.g. `10s`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Arguments of `flamewatch gate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 pass, 1 block, 3 warn (a MEDIUM change needs acknowledgment), 2 error.

Examples:
  curl -X POST http://127.0.0.1:6060/api/code-intelligence/dynamic-profiling/baselines/v41
  (deploy)
  flamewatch gate http://127.0.0.1:6060 --baseline v41 --wait 5m
  flamewatch gate http://127.0.0.1:6060 --block-on medium"
)]
pub struct GateArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Compare with this frozen baseline instead of each key's calibrated history.
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Wait this long before asking (the stabilization period after a deploy): `30s`, `5m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Lowest severity that blocks (`low`, `medium`, `high`, `critical`).
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub block_on: Severity,
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration `{s}`: expected e.g. 500ms, 30s, 5m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit `{other}` in `{s}`: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid duration `{s}`"))
}

/// The API's base URL: `url` with the default prefix when it has no path.
pub fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim_end_matches('/');
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            bail!("`{url}`: https is not supported; reach the API over http (it binds loopback)");
        }
        bail!("`{url}` is not an http:// URL of a management API");
    };
    Ok(if rest.contains('/') {
        url.to_string()
    } else {
        format!("{url}{DEFAULT_PREFIX}")
    })
}

/// Percent-encodes a query or path component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET base + path`; a non-2xx answer becomes an error carrying the API's message.
pub fn get(api: &ApiArgs, path: &str) -> anyhow::Result<String> {
    let base = base_url(&api.url)?;
    let url = format!("{base}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(api.timeout))
        .build()
        .into();
    let mut req = agent.get(&url);
    let token = api
        .token
        .clone()
        .or_else(|| std::env::var("FLAMEWATCH_TOKEN").ok());
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req
        .call()
        .with_context(|| format!("cannot reach the management API at {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("cannot read the answer of {url}"))?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.trim().chars().take(200).collect());
        if status == 401 {
            bail!("{url} answered 401: {message} (pass --token or set FLAMEWATCH_TOKEN)");
        }
        bail!("{url} answered {status}: {message}");
    }
    Ok(body)
}

/// Runs `flamewatch gate`.
pub fn run(args: GateArgs) -> anyhow::Result<Outcome> {
    base_url(&args.api.url)?;
    if let Some(wait) = args.wait {
        eprintln!("waiting {wait:?} for the service to stabilize");
        std::thread::sleep(wait);
    }
    let mut path = format!(
        "/gate?block_on={}",
        args.block_on.as_str().to_ascii_lowercase()
    );
    if let Some(b) = &args.baseline {
        path.push_str(&format!("&baseline={}", encode_component(b)));
    }
    let body = get(&args.api, &path)?;
    let report: serde_json::Value =
        serde_json::from_str(&body).context("the management API's gate answer is not JSON")?;
    let verdict = report["verdict"]
        .as_str()
        .context("the management API's gate answer has no `verdict`")?;
    let mut out = std::io::stdout().lock();
    let against = match &args.baseline {
        Some(b) => format!("baseline `{b}`"),
        None => "the calibrated history".to_string(),
    };
    writeln!(
        out,
        "gate: {} (against {against}, {} keys compared, blocking on {})",
        verdict.to_ascii_uppercase(),
        report["compared"].as_u64().unwrap_or(0),
        args.block_on
    )?;
    for reason in report["reasons"].as_array().into_iter().flatten() {
        writeln!(out, "  {}", reason.as_str().unwrap_or_default())?;
    }
    if verdict == "warn" {
        writeln!(
            out,
            "acknowledge with: POST {}/regressions/<key>/ack",
            base_url(&args.api.url)?
        )?;
    }
    out.flush()?;
    match verdict {
        "pass" => Ok(Outcome::Pass),
        "block" => Ok(Outcome::Regression),
        "warn" => Ok(Outcome::Inconclusive),
        other => bail!("the management API answered an unknown verdict `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_urls() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err() && parse_duration("3 days").is_err());
        assert_eq!(
            base_url("http://127.0.0.1:6060/").unwrap(),
            format!("http://127.0.0.1:6060{DEFAULT_PREFIX}")
        );
        assert_eq!(base_url("http://h:1/x/").unwrap(), "http://h:1/x");
        assert!(base_url("127.0.0.1:6060").is_err());
        assert_eq!(encode_component("GET /a b"), "GET%20%2Fa%20b");
    }
}
