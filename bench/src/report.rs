//! The results as Markdown tables (what `docs/performance.md` quotes).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bed::{BedResults, CreatePoint};
use crate::plan::PlanRow;
use crate::starts::StartPoint;
use crate::stats::{bytes, median};

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Results {
    /// The command line.
    pub command: String,
    /// Planning in memory.
    pub plan: Vec<PlanRow>,
    /// On the test bed (absent with `--only plan`).
    pub bed: Option<BedResults>,
    /// `start --all` one at a time and side by side (test bed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts: Vec<StartPoint>,
}

/// The parallel-start table.
pub fn starts_markdown(points: &[StartPoint]) -> String {
    let mut out = String::new();
    let Some(first) = points.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "\n### Starting {} jails (each `/etc/rc` sleeps {} s)\n\n\
         | `host.start_parallel` | median `thinjail start --all` s | speed-up over 1 | runs |\n\
         |---:|---:|---:|---:|",
        first.jails, first.rc_seconds
    );
    for p in points {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {} |",
            p.bound, p.median_s, p.speedup, p.runs
        );
    }
    if points.iter().any(|p| p.stop_median_s > 0.0) {
        let _ = writeln!(
            out,
            "\n### Stopping {} jails (each `/etc/rc.shutdown` sleeps {} s)\n\n\
             | `host.start_parallel` | median `thinjail stop --all` s | speed-up over 1 | runs |\n\
             |---:|---:|---:|---:|",
            first.jails, first.rc_seconds
        );
        for p in points {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {} |",
                p.bound, p.stop_median_s, p.stop_speedup, p.runs
            );
        }
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        let r = a / b;
        // Three significant digits: a thin jail's disk is a tiny fraction of a thick one's.
        let decimals = if r >= 1.0 {
            2
        } else {
            (2 - r.log10().floor() as i32).max(2) as usize
        };
        format!("{r:.decimals$}")
    } else {
        "—".into()
    }
}

fn medians(points: &[CreatePoint], f: impl Fn(&CreatePoint) -> f64) -> f64 {
    median(&points.iter().map(f).collect::<Vec<_>>())
}

/// The tables.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Command: `{}`\n", results.command);
    let _ = writeln!(
        out,
        "### Planning in memory\n\n\
         | jails | host | actions | median wall ms | median CPU ms | peak heap | allocations | bytes allocated | runs |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &results.plan {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {} |",
            r.jails,
            r.host,
            r.actions,
            r.median_ms,
            r.median_cpu_ms,
            bytes(r.peak_bytes as u64),
            r.allocations,
            bytes(r.allocated_bytes as u64),
            r.runs
        );
    }
    let Some(bed) = &results.bed else {
        return out;
    };
    let _ = writeln!(
        out,
        "\n### An up-to-date host (test bed, all jails running)\n\n\
         | jails | commands to observe | observe ms | plan ms | `thinjail apply` ms (new process) | commands it reports | runs |\n\
         |---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in &bed.noop {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.2} | {:.1} | {} | {} |",
            p.n, p.observe_commands, p.observe_ms, p.plan_ms, p.cli_ms, p.cli_commands, p.runs
        );
    }
    let n = bed.send_receive.len();
    let _ = writeln!(
        out,
        "\n### The N-th jail, N = 1..{n} (test bed; medians over the {n} jails)\n\n\
         Base (`base@install`) {}, template (`template@gold`) {}.\n\n\
         | | thin, send/receive | thin, clone | thick |\n|---|---:|---:|---:|",
        bytes(bed.base_bytes),
        bytes(bed.template_bytes)
    );
    let thick_ms = median(&bed.thick.iter().map(|t| t.ms).collect::<Vec<_>>());
    let thick_used = median(&bed.thick.iter().map(|t| t.used as f64).collect::<Vec<_>>());
    let series = [&bed.send_receive, &bed.clone];
    let cell = |points: &Vec<CreatePoint>,
                f: &dyn Fn(&CreatePoint) -> f64,
                fmt: &dyn Fn(f64) -> String| {
        if points.is_empty() {
            "—".to_string()
        } else {
            fmt(medians(points, f))
        }
    };
    let ms = |v: f64| format!("{v:.1} ms");
    let size = |v: f64| bytes(v as u64);
    let _ = writeln!(
        out,
        "| make its data (`zfs send \\| receive` / `zfs clone`) | {} | {} | {} |",
        cell(series[0], &|p| p.data_ms, &ms),
        cell(series[1], &|p| p.data_ms, &ms),
        ms(thick_ms)
    );
    let _ = writeln!(
        out,
        "| time ratio to thick | {} | {} | 1 |",
        cell(series[0], &|p| p.data_ms, &|v| ratio(v, thick_ms)),
        cell(series[1], &|p| p.data_ms, &|v| ratio(v, thick_ms)),
    );
    let _ = writeln!(
        out,
        "| whole `apply` adding it (observe, plan, datasets, fstab, jail.conf, start) | {} | {} | — |",
        cell(series[0], &|p| p.timing.total_ms, &ms),
        cell(series[1], &|p| p.timing.total_ms, &ms),
    );
    let _ = writeln!(
        out,
        "| disk it uses (`used`) | {} | {} | {} |",
        cell(series[0], &|p| p.used as f64, &size),
        cell(series[1], &|p| p.used as f64, &size),
        size(thick_used)
    );
    let _ = writeln!(
        out,
        "| disk ratio to thick | {} | {} | 1 |",
        cell(series[0], &|p| p.used as f64, &|v| ratio(v, thick_used)),
        cell(series[1], &|p| p.used as f64, &|v| ratio(v, thick_used)),
    );
    let last =
        |points: &Vec<CreatePoint>| points.last().map_or("—".into(), |p| bytes(p.total_used));
    let _ = writeln!(
        out,
        "| all {n} jails with base and template (`used` of the jails dataset) | {} | {} | {} |",
        last(series[0]),
        last(series[1]),
        bed.thick.last().map_or("—".into(), |t| bytes(t.total_used)),
    );
    let _ = writeln!(out, "\nClone series: {}.", bed.clone_source);

    let _ = writeln!(
        out,
        "\n### Some of the N jails, one by one\n\n\
         | N | send/receive: apply ms | data ms | used | clone: apply ms | data ms | used | thick: ms | used |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for n in [1usize, 2, 5, 10, 20, 30, 40, 50] {
        let sr = bed.send_receive.iter().find(|p| p.n == n);
        let cl = bed.clone.iter().find(|p| p.n == n);
        let th = bed.thick.iter().find(|p| p.n == n);
        if sr.is_none() && cl.is_none() && th.is_none() {
            continue;
        }
        let thin = |p: Option<&CreatePoint>| {
            p.map_or("— | — | —".into(), |p| {
                format!(
                    "{:.1} | {:.1} | {}",
                    p.timing.total_ms,
                    p.data_ms,
                    bytes(p.used)
                )
            })
        };
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} |",
            thin(sr),
            thin(cl),
            th.map_or("— | —".into(), |t| format!(
                "{:.1} | {}",
                t.ms,
                bytes(t.used)
            ))
        );
    }
    if let Some((from, to, timing)) = &bed.batch {
        let single = medians(&bed.send_receive, |p| p.timing.total_ms);
        let _ = writeln!(
            out,
            "\nOne `apply` adding jails {} to {to} at once: {:.1} s, {:.0} ms a jail \
             (observe {:.0} ms and plan {:.0} ms once for all; one at a time: {single:.0} ms a jail).",
            from + 1,
            timing.total_ms / 1e3,
            timing.total_ms / (to - from) as f64,
            timing.observe_ms,
            timing.plan_ms,
        );
        let mut kinds: Vec<(&String, &f64)> = timing.by_action.iter().collect();
        kinds.sort_by(|a, b| b.1.total_cmp(a.1));
        let shares: Vec<String> = kinds
            .iter()
            .map(|(kind, ms)| format!("{kind} {:.0} ms", *ms / (to - from) as f64))
            .collect();
        let _ = writeln!(out, "Per jail by action: {}.", shares.join(", "));
    }
    if !bed.template_size.is_empty() {
        let _ = writeln!(
            out,
            "\n### Making a jail's data from a bigger template (medians of {} runs)\n\n\
             | template | `zfs send \\| receive` | `zfs clone` | used by the copy | used by the clone |\n\
             |---:|---:|---:|---:|---:|",
            bed.template_size.first().map_or(0, |p| p.runs)
        );
        for p in &bed.template_size {
            let _ = writeln!(
                out,
                "| {} MiB | {:.1} ms | {:.1} ms | {} | {} |",
                p.template_mib,
                p.send_receive_ms,
                p.clone_ms,
                bytes(p.send_receive_used),
                bytes(p.clone_used)
            );
        }
    }
    out
}
