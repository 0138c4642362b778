//! Latency percentiles, the report printed at the end of a run, a progress ticker and a small PRNG.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Latencies in microseconds, sorted.
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn new(mut micros: Vec<u64>) -> Self {
        micros.sort_unstable();
        Self(micros)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile, `per_mille` in 1..=1000 (`999` is p99.9): the smallest sample with
    /// at least that share of samples at or below it. `None` without samples.
    pub fn percentile(&self, per_mille: u64) -> Option<u64> {
        let n = self.0.len() as u64;
        if n == 0 {
            return None;
        }
        let rank = (per_mille * n).div_ceil(1000).clamp(1, n);
        Some(self.0[(rank - 1) as usize])
    }

    /// Adds `label pXX` lines and `pXX_us` fields for the given percentiles, plus the maximum.
    pub fn add_to(&self, report: &mut Report, per_milles: &[u64]) {
        self.add_to_prefixed(report, per_milles, "", "latency");
    }

    /// As [`Latencies::add_to`], with `key_prefix` before every field name (`patch_p99_us`) and
    /// `label` starting the line.
    pub fn add_to_prefixed(
        &self,
        report: &mut Report,
        per_milles: &[u64],
        key_prefix: &str,
        label: &str,
    ) {
        let mut parts = Vec::new();
        for &pm in per_milles {
            let name = if pm % 10 == 0 {
                format!("p{}", pm / 10)
            } else {
                format!("p{}.{}", pm / 10, pm % 10)
            };
            let key = format!("{key_prefix}{}_us", name.replace('.', ""));
            let value = self.percentile(pm);
            report.set(&key, value);
            parts.push(format!("{name} {}", fmt_micros(value)));
        }
        let max = self.0.last().copied();
        report.set(&format!("{key_prefix}max_us"), max);
        parts.push(format!("max {}", fmt_micros(max)));
        report.line(format!("{label}: {}", parts.join(", ")));
    }
}

fn fmt_micros(value: Option<u64>) -> String {
    match value {
        Some(us) => format!("{:.3} ms", us as f64 / 1000.0),
        None => "-".to_owned(),
    }
}

/// Operations per second over `elapsed`.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Rounds to two decimals for the JSON line.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The outcome of a run: human-readable lines and the same figures as one JSON object.
#[derive(Debug)]
pub struct Report {
    lines: Vec<String>,
    fields: Map<String, Value>,
}

impl Report {
    pub fn new(command: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("command".to_owned(), Value::from(command));
        Self {
            lines: Vec::new(),
            fields,
        }
    }

    pub fn line(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Copies every field of `other` except `command`, each name with `prefix` before it.
    pub fn merge_prefixed(&mut self, other: &Report, prefix: &str) {
        for (key, value) in &other.fields {
            if key != "command" {
                self.fields.insert(format!("{prefix}{key}"), value.clone());
            }
        }
    }

    /// Prints the human lines on stderr (the report of a preparation step inside a run).
    pub fn eprint(&self) {
        for line in &self.lines {
            eprintln!("{line}");
        }
    }

    /// Without `json`, prints the lines on stdout. With `json`, prints them on stderr and the JSON
    /// object as one line on stdout, so stdout can be piped straight into `jq`.
    pub fn print(&self, json: bool) {
        for line in &self.lines {
            if json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        if json {
            println!("{}", Value::Object(self.fields.clone()));
        }
    }
}

/// Prints `label: done/total (rate/s)` on stderr every five seconds until dropped.
pub struct Progress(tokio::task::JoinHandle<()>);

impl Progress {
    pub fn start(label: &'static str, done: Arc<AtomicU64>, total: Option<u64>) -> Self {
        let started = Instant::now();
        Self(tokio::spawn(async move {
            let period = Duration::from_secs(5);
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticker.tick().await;
                let n = done.load(Ordering::Relaxed);
                let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                eprintln!("  {label}: {n}{of} ({:.0}/s)", rate(n, started.elapsed()));
            }
        }))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// xorshift64* — fast, tiny and good enough to spread lookups uniformly.
pub struct XorShift(u64);

impl XorShift {
    /// Seeds through splitmix64, so nearby seeds (worker 0, 1, 2 ...) give unrelated streams.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is negligible for any realistic `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let lat = Latencies::new((1..=100).rev().collect());
        assert_eq!(lat.percentile(500), Some(50));
        assert_eq!(lat.percentile(900), Some(90));
        assert_eq!(lat.percentile(990), Some(99));
        assert_eq!(lat.percentile(999), Some(100));
        assert_eq!(lat.percentile(1000), Some(100));
        assert_eq!(Latencies::new(vec![7]).percentile(500), Some(7));
        assert_eq!(Latencies::new(vec![]).percentile(500), None);
    }

    #[test]
    fn xorshift_stays_in_range_and_covers_it() {
        let mut rng = XorShift::new(0);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = rng.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
