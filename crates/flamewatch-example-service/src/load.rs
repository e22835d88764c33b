//! A bounded loopback load generator: keep-alive HTTP/1.1 `GET`s over `tokio` TCP streams.
//!
//! Every run is bounded twice, by a request count and by a time limit, and only loopback
//! targets are accepted, so a typo can never load someone else's server. Each connection
//! sends one request at a time and waits for the whole response (read by `Content-Length`)
//! before the next; latencies are kept per request to report exact percentiles.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most requests one run may send.
pub const MAX_REQUESTS: u64 = 10_000_000;
/// The most concurrent connections.
pub const MAX_CONNECTIONS: usize = 1_024;

/// Why a load run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL is not `http://HOST[:PORT][/PATH]`.
    #[error("`{0}` is not an http://HOST[:PORT]/PATH URL")]
    BadUrl(String),
    /// The target is not a loopback address.
    #[error(
        "refusing to load `{0}`: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed"
    )]
    NotLoopback(String),
    /// A bound is zero or too large.
    #[error("{0}")]
    BadBound(String),
}

/// A parsed loopback target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// The path and query.
    pub path: String,
}

impl Target {
    /// Parses `http://HOST[:PORT][/PATH]`, accepting only loopback hosts.
    ///
    /// ```
    /// use flamewatch_example_service::load::Target;
    /// let t = Target::parse("http://127.0.0.1:8080/ping").unwrap();
    /// assert_eq!((t.addr.port(), t.path.as_str()), (8080, "/ping"));
    /// assert!(Target::parse("http://10.0.0.1/").is_err());
    /// assert!(Target::parse("http://example.com/").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Target, LoadError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| LoadError::BadUrl(url.to_string()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !authority.ends_with(']') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| LoadError::BadUrl(url.to_string()))?;
                (h, port)
            }
            _ => (authority, 80),
        };
        let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "" => return Err(LoadError::BadUrl(url.to_string())),
            h => h
                .parse()
                .map_err(|_| LoadError::NotLoopback(host.to_string()))?,
        };
        if !ip.is_loopback() {
            return Err(LoadError::NotLoopback(host.to_string()));
        }
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// One load run's bounds and shape.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to send the requests.
    pub target: Target,
    /// Requests to send at most.
    pub requests: u64,
    /// Time limit of the run.
    pub duration: Duration,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Extra headers, as `(name, value)`.
    pub headers: Vec<(String, String)>,
}

impl LoadConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.requests == 0 || self.requests > MAX_REQUESTS {
            return Err(LoadError::BadBound(format!(
                "invalid --requests {}: expected 1 to {MAX_REQUESTS}",
                self.requests
            )));
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(LoadError::BadBound(format!(
                "invalid --connections {}: expected 1 to {MAX_CONNECTIONS}",
                self.connections
            )));
        }
        if self.duration.is_zero() || self.duration > Duration::from_secs(3_600) {
            return Err(LoadError::BadBound(format!(
                "invalid --duration {:?}: expected more than 0 and at most 1h",
                self.duration
            )));
        }
        Ok(())
    }
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Requests answered otherwise, or failed on the wire.
    pub errors: u64,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Completed requests (ok and errors) per second.
    pub throughput_rps: f64,
    /// Mean latency of the ok requests, in milliseconds.
    pub mean_ms: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, in milliseconds.
    pub p99_ms: f64,
    /// Largest latency, in milliseconds.
    pub max_ms: f64,
}

impl LoadReport {
    /// Builds the report from per-request latencies (nanoseconds).
    pub fn from_latencies(mut lat: Vec<u64>, errors: u64, elapsed: Duration) -> LoadReport {
        lat.sort_unstable();
        let q = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i] as f64 / 1e6
        };
        let ok = lat.len() as u64;
        let secs = elapsed.as_secs_f64().max(1e-9);
        LoadReport {
            ok,
            errors,
            elapsed_s: secs,
            throughput_rps: (ok + errors) as f64 / secs,
            mean_ms: if ok == 0 {
                0.0
            } else {
                lat.iter().sum::<u64>() as f64 / ok as f64 / 1e6
            },
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            max_ms: lat.last().map_or(0.0, |&v| v as f64 / 1e6),
        }
    }
}

/// Runs the load: `connections` tasks share the request budget until it is spent or the time
/// limit passes. A connection that fails counts an error and reconnects.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: flamewatch-load\r\n",
        config.target.path, config.target.host
    );
    for (name, value) in &config.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let request: Arc<[u8]> = Arc::from(request.into_bytes());
    let budget = Arc::new(AtomicU64::new(config.requests));
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + config.duration);
    let mut tasks = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let (request, budget, addr) = (request.clone(), budget.clone(), config.target.addr);
        tasks.push(tokio::spawn(async move {
            let work = connection(addr, &request, &budget);
            let mut out = (Vec::new(), 0u64);
            // The time limit cuts the connection short; what it measured so far is kept.
            let _ = tokio::time::timeout_at(deadline, work.run(&mut out)).await;
            out
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, e)) = t.await {
            lat.extend(l);
            errors += e;
        }
    }
    Ok(LoadReport::from_latencies(lat, errors, start.elapsed()))
}

/// One connection's loop.
struct Connection<'a> {
    addr: SocketAddr,
    request: &'a [u8],
    budget: &'a AtomicU64,
}

fn connection<'a>(addr: SocketAddr, request: &'a [u8], budget: &'a AtomicU64) -> Connection<'a> {
    Connection {
        addr,
        request,
        budget,
    }
}

impl Connection<'_> {
    fn take(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn run(&self, out: &mut (Vec<u64>, u64)) {
        let mut buf = Vec::with_capacity(4096);
        let mut stream: Option<TcpStream> = None;
        while self.take() {
            let t0 = Instant::now();
            if stream.is_none() {
                match TcpStream::connect(self.addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        stream = Some(s);
                    }
                    Err(_) => {
                        out.1 += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
            }
            let s = stream.as_mut().expect("connected above");
            match exchange(s, self.request, &mut buf).await {
                Ok((status, keep_alive)) => {
                    if (200..300).contains(&status) {
                        out.0.push(t0.elapsed().as_nanos() as u64);
                    } else {
                        out.1 += 1;
                    }
                    if !keep_alive {
                        stream = None;
                    }
                }
                Err(_) => {
                    out.1 += 1;
                    stream = None;
                }
            }
        }
    }
}

/// Sends one request and reads its response; returns the status and whether the connection
/// stays open.
async fn exchange(
    s: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    s.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(invalid("response head over 64 KiB"));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("connection closed mid-response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let (mut length, mut keep_alive) = (None, true);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep_alive = false;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(invalid("chunked responses are not supported"));
            }
        }
    }
    let length = length.ok_or_else(|| invalid("response without content-length"))?;
    let mut have = buf.len() - head_end;
    while have < length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("connection closed mid-body"));
        }
        have += n;
    }
    Ok((status, keep_alive))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_exact_ranks() {
        let lat = (1..=100).map(|i| i * 1_000_000).collect();
        let r = LoadReport::from_latencies(lat, 2, Duration::from_secs(1));
        assert_eq!((r.ok, r.errors), (100, 2));
        assert_eq!((r.p50_ms, r.p99_ms, r.max_ms), (50.0, 99.0, 100.0));
        assert_eq!(r.throughput_rps, 102.0);
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(Target::parse("http://localhost:1/x").is_ok());
        assert_eq!(
            Target::parse("http://[::1]:8080/").unwrap().addr.port(),
            8080
        );
        assert_eq!(Target::parse("http://[::1]/").unwrap().addr.port(), 80);
        assert!(Target::parse("http://192.168.1.1:80/").is_err());
        assert!(Target::parse("https://127.0.0.1/").is_err());
    }
}
