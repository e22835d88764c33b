//! Every run kept in an embedded SQLite database, with the baseline rule and learned noise.
//!
//! Schema (version 1, created on first use):
//! - `runs(id, name, command, git_commit, git_dirty, git_branch, time, host, status, eligible,
//!   result_json)`: one row per benchmark execution; `result_json` is the raw
//!   [`BenchResult`] with every per-run value; `status` is `ok`, `failed`, `noisy`,
//!   `regressed` or `inconclusive`; `eligible` is 1 only for `ok`.
//! - `samples(run_id, metric, idx, value)`: the same raw values, queryable with SQL.
//!
//! The baseline of a benchmark is its latest eligible run: a run with failures, a noisy run
//! (coefficient of variation of a gated metric above [`NOISY_CV`]) or a run the gate did not
//! pass is stored for the record but never becomes the baseline.

use crate::Metric;
use crate::env::Environment;
use crate::runner::BenchResult;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

/// A run whose gated metric varies more than this (σ / mean) is noisy.
pub const NOISY_CV: f64 = 0.10;

/// Why a run is or is not eligible as a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Clean: may become the baseline.
    Ok,
    /// Some runs exited non-zero.
    Failed,
    /// Too much variation.
    Noisy,
    /// The gate found a regression.
    Regressed,
    /// The gate could not decide.
    Inconclusive,
}

impl RunStatus {
    /// Lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Noisy => "noisy",
            RunStatus::Regressed => "regressed",
            RunStatus::Inconclusive => "inconclusive",
        }
    }

    /// Judges a result on its own: failed, noisy or ok.
    pub fn assess(r: &BenchResult, gated: &[Metric]) -> RunStatus {
        if r.failures() > 0 {
            return RunStatus::Failed;
        }
        if noisy_metrics(r, gated).is_empty() {
            RunStatus::Ok
        } else {
            RunStatus::Noisy
        }
    }
}

/// Gated metrics whose run-to-run variation makes the result noisy, with their coefficient of
/// variation: σ above [`NOISY_CV`] of the mean and above the metric's measurement resolution
/// (so a 1 MiB program whose peak RSS moves by a few pages is not called noisy).
pub fn noisy_metrics(r: &BenchResult, gated: &[Metric]) -> Vec<(Metric, f64)> {
    gated
        .iter()
        .filter_map(|m| r.summary(*m).map(|s| (*m, s)))
        .filter(|(m, s)| {
            s.n >= 3 && s.stddev > (NOISY_CV * s.mean.abs()).max(crate::compare::resolution(*m))
        })
        .map(|(m, s)| (m, s.cv()))
        .collect()
}

/// One stored benchmark execution.
#[derive(Debug, Clone)]
pub struct HistoryRun {
    /// Row id.
    pub id: i64,
    /// Benchmark name.
    pub name: String,
    /// Git commit.
    pub git_commit: Option<String>,
    /// Uncommitted changes.
    pub git_dirty: bool,
    /// Branch.
    pub git_branch: Option<String>,
    /// Unix seconds.
    pub time: i64,
    /// Status (`ok`, `failed`, …).
    pub status: String,
    /// Whether it may be a baseline.
    pub eligible: bool,
    /// Raw result.
    pub result: BenchResult,
}

/// The history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Default location, relative to the working directory.
    pub const DEFAULT_PATH: &'static str = ".flamewatch/history.db";

    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> crate::Result<History> {
        let err = |source| crate::Error::History {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::File {
                path: dir.display().to_string(),
                reason: format!("cannot create history directory: {e}"),
            })?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS runs (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 command TEXT NOT NULL,
                 git_commit TEXT,
                 git_dirty INTEGER NOT NULL DEFAULT 0,
                 git_branch TEXT,
                 time INTEGER NOT NULL,
                 host TEXT NOT NULL,
                 status TEXT NOT NULL,
                 eligible INTEGER NOT NULL,
                 result_json TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS runs_by_name ON runs(name, id);
             CREATE TABLE IF NOT EXISTS samples (
                 run_id INTEGER NOT NULL REFERENCES runs(id),
                 metric TEXT NOT NULL,
                 idx INTEGER NOT NULL,
                 value REAL NOT NULL
             );
             PRAGMA user_version = 1;",
        )
        .map_err(err)?;
        Ok(History {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> crate::Error {
        crate::Error::History {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Stores one result; returns its id.
    pub fn record(
        &mut self,
        r: &BenchResult,
        env: &Environment,
        status: RunStatus,
    ) -> crate::Result<i64> {
        let json = serde_json::to_string(r).map_err(|e| crate::Error::Config(e.to_string()))?;
        let tx = self.conn.transaction().map_err(|e| crate::Error::History {
            path: self.path.display().to_string(),
            source: e,
        })?;
        tx.execute(
            "INSERT INTO runs (name, command, git_commit, git_dirty, git_branch, time, host, status, eligible, result_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                r.name,
                r.command.display,
                env.git_commit,
                env.git_dirty.unwrap_or(false),
                env.git_branch,
                env.timestamp as i64,
                env.host,
                status.as_str(),
                status == RunStatus::Ok,
                json
            ],
        )
        .map_err(|e| crate::Error::History { path: self.path.display().to_string(), source: e })?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare("INSERT INTO samples (run_id, metric, idx, value) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| crate::Error::History {
                    path: self.path.display().to_string(),
                    source: e,
                })?;
            for (i, run) in r.runs.iter().enumerate() {
                for (m, v) in &run.values {
                    stmt.execute(params![id, m.key(), i as i64, v])
                        .map_err(|e| crate::Error::History {
                            path: self.path.display().to_string(),
                            source: e,
                        })?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Stored runs, oldest first, optionally for one name.
    pub fn runs(&self, name: Option<&str>) -> crate::Result<Vec<HistoryRun>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, name, git_commit, git_dirty, git_branch, time, status, eligible, result_json
                 FROM runs WHERE (?1 IS NULL OR name = ?1) ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![name], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, bool>(7)?,
                    row.get::<_, String>(8)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, git_commit, git_dirty, git_branch, time, status, eligible, json) =
                row.map_err(|e| self.err(e))?;
            let result: BenchResult =
                serde_json::from_str(&json).map_err(|e| crate::Error::File {
                    path: self.path.display().to_string(),
                    reason: format!("run {id} has a malformed result: {e}"),
                })?;
            out.push(HistoryRun {
                id,
                name,
                git_commit,
                git_dirty,
                git_branch,
                time,
                status,
                eligible,
                result,
            });
        }
        Ok(out)
    }

    /// Distinct benchmark names.
    pub fn names(&self) -> crate::Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT name FROM runs ORDER BY name")
            .map_err(|e| self.err(e))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(names)
    }

    /// The latest eligible run of `name`.
    pub fn baseline(&self, name: &str) -> crate::Result<Option<HistoryRun>> {
        Ok(self
            .runs(Some(name))?
            .into_iter()
            .rev()
            .find(|r| r.eligible))
    }
}

/// Run-to-run noise of `metric` learned from eligible history, in percent: the upper fence
/// `Q3 + 3·IQR` of the absolute relative changes between consecutive eligible runs' medians.
/// `None` with fewer than 10 eligible runs.
pub fn learned_noise_pct(runs: &[HistoryRun], metric: Metric) -> Option<f64> {
    let medians: Vec<f64> = runs
        .iter()
        .filter(|r| r.eligible)
        .filter_map(|r| r.result.summary(metric).map(|s| s.median))
        .collect();
    if medians.len() < 10 {
        return None;
    }
    let mut deltas: Vec<f64> = medians
        .windows(2)
        .filter(|w| w[0] != 0.0)
        .map(|w| 100.0 * ((w[1] - w[0]) / w[0]).abs())
        .collect();
    if deltas.len() < 9 {
        return None;
    }
    deltas.sort_by(f64::total_cmp);
    let q1 = crate::stats::quantile_sorted(&deltas, 0.25);
    let q3 = crate::stats::quantile_sorted(&deltas, 0.75);
    Some(q3 + 3.0 * (q3 - q1))
}
