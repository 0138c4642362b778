//! Memory of a local process, from `/proc/<pid>/status` (Linux).

use anyhow::{Context, Result};

use crate::stats::Report;

/// Resident set size now (`VmRSS`) and at its peak (`VmHWM`), and its anonymous part
/// (`RssAnon`), in KiB. VmRSS also counts file pages a process maps (a memory-mapped SQLite
/// file, once per mapping), which the kernel can reclaim; RssAnon is the heap and stacks.
#[derive(Clone, Copy)]
pub struct Rss {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// `None` on kernels without the line.
    pub anon_kib: Option<u64>,
}

impl Rss {
    pub fn read(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("{path} has no readable {name} line"))
        };
        Ok(Self {
            rss_kib: field("VmRSS")?,
            hwm_kib: field("VmHWM")?,
            anon_kib: field("RssAnon").ok(),
        })
    }

    /// Adds `rss_mib` and `hwm_mib` (with `key_prefix` before them) and a human line.
    pub fn add_to(&self, report: &mut Report, label: &str, key_prefix: &str) {
        let (rss, hwm) = (mib(self.rss_kib), mib(self.hwm_kib));
        let anon = self.anon_kib.map(mib);
        let anon_text = anon.map_or(String::new(), |anon| format!(", RssAnon {anon:.1} MiB"));
        report.line(format!(
            "{label}: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB{anon_text}"
        ));
        report.set(&format!("{key_prefix}rss_mib"), (rss * 10.0).round() / 10.0);
        report.set(&format!("{key_prefix}hwm_mib"), (hwm * 10.0).round() / 10.0);
        if let Some(anon) = anon {
            report.set(
                &format!("{key_prefix}anon_mib"),
                (anon * 10.0).round() / 10.0,
            );
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `--pid` of a benchmark run: read once before (so a wrong pid fails before a long run) and
/// once after.
pub struct Watch {
    pid: u32,
    before: Rss,
}

impl Watch {
    pub fn start(pid: Option<u32>) -> Result<Option<Self>> {
        pid.map(|pid| {
            Ok(Self {
                pid,
                before: Rss::read(pid)?,
            })
        })
        .transpose()
    }

    /// Adds the server's memory before and after the run; a failed read (the server exited) is a
    /// warning, not a failed run.
    pub fn finish(&self, report: &mut Report) {
        report.set("pid", self.pid);
        report.set(
            "rss_before_mib",
            (mib(self.before.rss_kib) * 10.0).round() / 10.0,
        );
        match Rss::read(self.pid) {
            Ok(after) => after.add_to(
                report,
                &format!(
                    "server {} after run (VmRSS before {:.1} MiB)",
                    self.pid,
                    mib(self.before.rss_kib)
                ),
                "",
            ),
            Err(err) => eprintln!("warning: {err:#}"),
        }
    }
}
