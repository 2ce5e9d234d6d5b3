//! pgbench (the guide's section 7.6) as gymops runs it: its arguments (never a password:
//! that goes in PGPASSWORD), its summary, and the latencies of its per-transaction log
//! (`-l`), from which the percentiles come. Pure.

use serde::Serialize;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub user: String,
    pub database: String,
    pub scale: u32,
    pub clients: u32,
    pub threads: u32,
    pub seconds: u32,
    /// Where pgbench writes its per-transaction log (`PREFIX.PID[.N]`).
    pub log_prefix: String,
}

impl Plan {
    /// `pgbench -i`: the tables at the scale asked, quietly.
    pub fn init_args(&self) -> Vec<String> {
        vec![
            "--initialize".into(),
            "--quiet".into(),
            format!("--scale={}", self.scale),
            format!("--username={}", self.user),
            self.database.clone(),
        ]
    }

    /// The run: TPC-B-like transactions for `seconds`, a log line per transaction, and a
    /// progress line every second (which also makes pgbench measure its latency average and
    /// standard deviation instead of deriving them from the run time).
    pub fn run_args(&self) -> Vec<String> {
        vec![
            format!("--client={}", self.clients),
            format!("--jobs={}", self.threads),
            format!("--time={}", self.seconds),
            "--progress=1".into(),
            "--log".into(),
            format!("--log-prefix={}", self.log_prefix),
            format!("--username={}", self.user),
            self.database.clone(),
        ]
    }
}

/// What pgbench's own summary says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub transactions: Option<u64>,
    pub failed: Option<u64>,
    /// Without the initial connection time.
    pub tps: Option<f64>,
    pub latency_average_ms: Option<f64>,
    pub latency_stddev_ms: Option<f64>,
}

fn number_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key)?.split_whitespace().next()
}

/// Read pgbench's summary (PostgreSQL 10 to 17 wordings).
pub fn parse_summary(stdout: &str) -> Summary {
    let mut summary = Summary::default();
    for line in stdout.lines().map(str::trim) {
        if let Some(n) = number_after(line, "number of transactions actually processed:") {
            summary.transactions = n.split('/').next().and_then(|n| n.parse().ok());
        } else if let Some(n) = number_after(line, "number of failed transactions:") {
            summary.failed = n.parse().ok();
        } else if let Some(n) = number_after(line, "latency average =") {
            summary.latency_average_ms = n.parse().ok();
        } else if let Some(n) = number_after(line, "latency stddev =") {
            summary.latency_stddev_ms = n.parse().ok();
        } else if let Some(n) = number_after(line, "tps =") {
            // 14+: one line "(without initial connection time)"; before: "including" and
            // "excluding connections establishing" — the one without connections counts.
            if !line.contains("including") {
                summary.tps = n.parse().ok();
            }
        }
    }
    summary
}

/// The latencies of the per-transaction log, accumulated line by line in fixed memory.
pub struct LogLatencies {
    histogram: hdrhistogram::Histogram<u64>,
    sum_us: u128,
    sum_sq: f64,
    failed: u64,
    first_start_us: Option<i128>,
    last_end_us: Option<i128>,
}

/// The figures of a log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latencies {
    pub transactions: u64,
    pub failed: u64,
    pub average_ms: f64,
    pub stddev_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Transactions over the time from the first one's start to the last one's end.
    pub tps: f64,
}

impl Default for LogLatencies {
    fn default() -> Self {
        LogLatencies {
            // 1 µs to 1 hour at 3 significant digits.
            histogram: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            sum_us: 0,
            sum_sq: 0.0,
            failed: 0,
            first_start_us: None,
            last_end_us: None,
        }
    }
}

impl LogLatencies {
    /// One line: `client transaction latency_us script epoch_s epoch_us [lag] [retries]`; a
    /// failed or skipped transaction has a word for its latency. Other lines are ignored.
    pub fn line(&mut self, line: &str) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            return;
        }
        let Ok(latency) = fields[2].parse::<u64>() else {
            if matches!(fields[2], "failed" | "skipped") {
                self.failed += 1;
            }
            return;
        };
        let (Ok(seconds), Ok(micros)) = (fields[4].parse::<i128>(), fields[5].parse::<i128>())
        else {
            return;
        };
        let end = seconds * 1_000_000 + micros;
        let start = end - latency as i128;
        self.first_start_us = Some(self.first_start_us.map_or(start, |s| s.min(start)));
        self.last_end_us = Some(self.last_end_us.map_or(end, |e| e.max(end)));
        self.histogram.saturating_record(latency.max(1));
        self.sum_us += latency as u128;
        self.sum_sq += (latency as f64) * (latency as f64);
    }

    pub fn finish(&self) -> Latencies {
        let n = self.histogram.len();
        let ms = |us: u64| us as f64 / 1000.0;
        let average_us = if n == 0 {
            0.0
        } else {
            self.sum_us as f64 / n as f64
        };
        let variance = if n == 0 {
            0.0
        } else {
            (self.sum_sq / n as f64 - average_us * average_us).max(0.0)
        };
        let span_us = match (self.first_start_us, self.last_end_us) {
            (Some(start), Some(end)) if end > start => (end - start) as f64,
            _ => 0.0,
        };
        Latencies {
            transactions: n,
            failed: self.failed,
            average_ms: average_us / 1000.0,
            stddev_ms: variance.sqrt() / 1000.0,
            p50_ms: ms(self.histogram.value_at_quantile(0.50)),
            p90_ms: ms(self.histogram.value_at_quantile(0.90)),
            p95_ms: ms(self.histogram.value_at_quantile(0.95)),
            p99_ms: ms(self.histogram.value_at_quantile(0.99)),
            max_ms: ms(self.histogram.max()),
            tps: if span_us > 0.0 {
                n as f64 / (span_us / 1_000_000.0)
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_of_postgresql_15_and_of_older_versions_is_read() {
        let v15 = "pgbench (15.10 (Debian 15.10-0+deb12u1))\ntransaction type: <builtin: TPC-B (sort of)>\nscaling factor: 1\nquery mode: simple\nnumber of clients: 4\nnumber of threads: 2\nmaximum number of tries: 1\nduration: 3 s\nnumber of transactions actually processed: 5123\nnumber of failed transactions: 0 (0.000%)\nlatency average = 2.339 ms\nlatency stddev = 1.104 ms\ninitial connection time = 7.412 ms\ntps = 1710.182210 (without initial connection time)\n";
        assert_eq!(
            parse_summary(v15),
            Summary {
                transactions: Some(5123),
                failed: Some(0),
                tps: Some(1710.18221),
                latency_average_ms: Some(2.339),
                latency_stddev_ms: Some(1.104),
            }
        );
        let v12 = "number of transactions actually processed: 100/100\nlatency average = 1.000 ms\ntps = 90.5 (including connections establishing)\ntps = 99.5 (excluding connections establishing)\n";
        let old = parse_summary(v12);
        assert_eq!(
            (old.transactions, old.tps, old.failed),
            (Some(100), Some(99.5), None)
        );
    }

    #[test]
    fn log_lines_give_exact_averages_percentiles_and_the_rate() {
        let mut log = LogLatencies::default();
        // 100 transactions of 1..=100 ms, ending 10 ms apart from t = 1000 s.
        for i in 1..=100u64 {
            let end_us = 1_000_000_000 + i * 10_000;
            log.line(&format!(
                "0 {i} {} 0 {} {}",
                i * 1000,
                end_us / 1_000_000,
                end_us % 1_000_000
            ));
        }
        log.line("1 7 failed 0 1000 500000");
        log.line("garbage");
        let figures = log.finish();
        assert_eq!((figures.transactions, figures.failed), (100, 1));
        assert!((figures.average_ms - 50.5).abs() < 1e-9, "{figures:?}");
        assert!((figures.p50_ms - 50.0).abs() < 0.1, "{figures:?}");
        assert!((figures.p99_ms - 99.0).abs() < 0.1, "{figures:?}");
        assert!((figures.max_ms - 100.0).abs() < 0.1, "{figures:?}");
        // From the first start (10 ms - 1 ms) to the last end (1000 ms): 100 in 0.991 s.
        assert!((figures.tps - 100.0 / 0.991).abs() < 0.01, "{figures:?}");
    }

    #[test]
    fn arguments_carry_no_password_and_name_the_database_last() {
        let plan = Plan {
            user: "postgres".into(),
            database: "gymops_bench_ab12".into(),
            scale: 2,
            clients: 4,
            threads: 2,
            seconds: 5,
            log_prefix: "/tmp/gymops-pgbench-ab12".into(),
        };
        assert_eq!(plan.init_args().last().unwrap(), "gymops_bench_ab12");
        let run = plan.run_args();
        assert!(run.contains(&"--client=4".to_string()) && run.contains(&"--log".to_string()));
        assert!(!run
            .iter()
            .chain(plan.init_args().iter())
            .any(|a| a.contains("password")));
    }
}
