//! The environment fingerprint stored with every result: where and on what code it ran.
//!
//! Comparing a baseline from another machine (or kernel, or core count) is legitimate but
//! risky, so [`Environment::mismatches`] lists the differences and the report warns about them.
//! Load at start and the git state are recorded but never count as a mismatch.

use serde::{Deserialize, Serialize};
use std::process::Command;

/// Machine and repository state at the start of a benchmark session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Host name.
    pub host: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Online logical CPUs.
    pub cores: usize,
    /// 1-minute load average at start.
    pub load_1m: f64,
    /// Git commit of the working directory, if it is a repository.
    pub git_commit: Option<String>,
    /// Whether tracked files had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// Current branch.
    pub git_branch: Option<String>,
    /// Unix time (seconds) at start.
    pub timestamp: u64,
}

impl Environment {
    /// Captures the current environment (git state from the current directory).
    pub fn capture() -> Environment {
        let host = read_trim("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into());
        let kernel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let load_1m = read_trim("/proc/loadavg")
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(f64::NAN);
        let git_commit = git(&["rev-parse", "HEAD"]);
        let git_dirty = git_commit.as_ref().and_then(|_| {
            git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty())
        });
        let git_branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Environment {
            host,
            kernel,
            cpu_model,
            cores,
            load_1m,
            git_commit,
            git_dirty,
            git_branch,
            timestamp,
        }
    }

    /// Differences that make a comparison against `other` less trustworthy.
    pub fn mismatches(&self, other: &Environment) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: &str, a: &str, b: &str| {
            if a != b {
                out.push(format!("{what}: baseline `{b}`, now `{a}`"));
            }
        };
        check("host", &self.host, &other.host);
        check("kernel", &self.kernel, &other.kernel);
        check("cpu", &self.cpu_model, &other.cpu_model);
        check("cores", &self.cores.to_string(), &other.cores.to_string());
        out
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .stderr(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_reads_the_machine_and_mismatch_lists_differences() {
        let e = Environment::capture();
        assert!(e.cores >= 1 && !e.kernel.is_empty() && e.timestamp > 0);
        assert!(e.mismatches(&e).is_empty());
        let mut other = e.clone();
        other.host = "elsewhere".into();
        other.cores += 1;
        let m = e.mismatches(&other);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("elsewhere"));
    }
}
