//! Starting and stopping N jails one at a time and side by side
//! (`host.start_parallel`), on the test bed: each jail's `/etc/rc` and
//! `/etc/rc.shutdown` sleep a fixed time (as a real rc(8) takes a while to boot
//! and stop services), then `thinjail start --all` and `thinjail stop --all` (new
//! processes, as an administrator runs them) are timed with each bound.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use thinjail_testbed::harness::Bed;
use thinjail_testbed::samples::numbered_jail;

use crate::stats::median;

/// How the measurement is set up.
pub struct StartOptions {
    /// Jails.
    pub jails: usize,
    /// Seconds each jail's `/etc/rc` sleeps.
    pub rc_seconds: f64,
    /// Bounds to try (`1` is one at a time).
    pub bounds: Vec<usize>,
    /// Repetitions of each.
    pub runs: usize,
}

/// `start --all` with one bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartPoint {
    /// Jails started.
    pub jails: usize,
    /// `host.start_parallel`.
    pub bound: usize,
    /// Seconds each `/etc/rc` sleeps.
    pub rc_seconds: f64,
    /// Median wall seconds of `thinjail start --all`.
    pub median_s: f64,
    /// That of bound 1 divided by this one's.
    pub speedup: f64,
    /// Median wall seconds of `thinjail stop --all` (each `/etc/rc.shutdown`
    /// sleeping `rc_seconds`); 0 in results from before stops were measured.
    #[serde(default)]
    pub stop_median_s: f64,
    /// That of bound 1 divided by this one's, for `stop --all`.
    #[serde(default)]
    pub stop_speedup: f64,
    /// Repetitions behind the median.
    pub runs: usize,
}

fn slow_rc(bed: &Bed, jail: &str, seconds: f64) -> anyhow::Result<()> {
    for (script, said) in [
        ("rc", "rc: booted"),
        ("rc.shutdown", "rc.shutdown: stopped"),
    ] {
        let path = bed.jails_path(&format!("{jail}/data/etc/{script}"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\nsleep {seconds}\necho '{said}' >> /var/log/rc.log\n"),
        )
        .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn checked(run: &thinjail_testbed::harness::Run, what: &str) -> anyhow::Result<()> {
    if run.code != Some(0) {
        bail!("{what} failed ({:?}):\n{}", run.code, run.stderr);
    }
    Ok(())
}

/// Measures `start --all` with each bound of `options`.
pub fn run(binary: &Path, options: &StartOptions) -> anyhow::Result<Vec<StartPoint>> {
    let binary = binary.to_str().context("the bench's path is not UTF-8")?;
    let mut bed = Bed::article(binary, |recipe| {
        let template = recipe.jails[0].clone();
        recipe.jails = (0..options.jails)
            .map(|i| thinjail_core::recipe::Jail {
                start: false,
                ..numbered_jail(&template, i)
            })
            .collect();
    });
    bed.write_recipe();
    checked(&bed.apply(), "apply")?;
    let names: Vec<String> = bed.recipe.jails.iter().map(|j| j.name.clone()).collect();
    for name in &names {
        slow_rc(&bed, name, options.rc_seconds)?;
    }
    let mut points: Vec<StartPoint> = Vec::new();
    for &bound in &options.bounds {
        bed.recipe.host.start_parallel = NonZeroU32::new(bound as u32);
        bed.write_recipe();
        let mut times = Vec::new();
        let mut stop_times = Vec::new();
        for _ in 0..options.runs {
            let began = Instant::now();
            let run = bed.command(&["start", "--all", "--yes"]);
            times.push(began.elapsed().as_secs_f64());
            checked(&run, "start --all")?;
            let began = Instant::now();
            let run = bed.command(&["stop", "--all", "--yes"]);
            stop_times.push(began.elapsed().as_secs_f64());
            checked(&run, "stop --all")?;
        }
        let median_s = median(&times);
        let stop_median_s = median(&stop_times);
        eprintln!("  bound {bound}: start {median_s:.2} s, stop {stop_median_s:.2} s");
        points.push(StartPoint {
            jails: options.jails,
            bound,
            rc_seconds: options.rc_seconds,
            median_s,
            speedup: 0.0,
            stop_median_s,
            stop_speedup: 0.0,
            runs: options.runs,
        });
    }
    let serial = points.iter().find(|p| p.bound == 1);
    let (serial, stop_serial) = serial.map_or((0.0, 0.0), |p| (p.median_s, p.stop_median_s));
    let ratio = |serial: f64, this: f64| if this > 0.0 { serial / this } else { 0.0 };
    for p in &mut points {
        p.speedup = ratio(serial, p.median_s);
        p.stop_speedup = ratio(stop_serial, p.stop_median_s);
    }
    Ok(points)
}
