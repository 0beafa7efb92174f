//! `thinjail-bench`: what thin jails cost, measured — planning in memory at 1 to 1000
//! jails, and on the Linux test bed (real zfs-fuse, bind mounts, chroot): observing
//! and re-applying an up-to-date host, and making the N-th jail with `zfs send |
//! receive`, with `zfs clone` (the clone-mount plugin) and as a thick full copy;
//! and starting N jails whose `/etc/rc` takes a fixed time one at a time and side by
//! side (`host.start_parallel`).
//!
//! Run it with `bench/run` (see `docs/performance.md`); it prints Markdown tables,
//! writes every number to a JSON file and draws them in a PNG.
//!
//! The binary also acts as `thinjail-testbed` (the `thinjail` command on the test
//! bed) when `THINJAIL_TESTBED_STATE` is set: that is how the benchmark runs the real
//! command line on its beds.

#![deny(unsafe_code)]

// A global allocator that counts (GlobalAlloc is an unsafe trait): the only unsafe code.
#[allow(unsafe_code)]
mod alloc;
mod bed;
mod plan;
mod plot;
mod report;
mod starts;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const USAGE: &str = "usage: thinjail-bench [--quick] [--only plan|bed|starts] [--clone-plugin LIB] [--json FILE] [--png FILE]
       thinjail-bench --plot RESULTS.json --png FILE

  --quick            small sizes, to check that everything runs (a minute)
  --only plan        planning in memory only (no root, no ZFS needed)
  --only bed         the test-bed measurements only (root and zfs-fuse)
  --only starts      starting and stopping jails one at a time and side by side
                     only (root and zfs-fuse); prints its tables, writes no JSON
                     or PNG
  --clone-plugin LIB the clone-mount plugin library (bench/run builds it)
  --json FILE        write every number there (default target/bench/results.json)
  --png FILE         draw time and disk against the number of jails there
  --plot JSON        redraw the PNG from an earlier run's JSON";

#[derive(Debug, Default)]
struct Options {
    quick: bool,
    only: Option<String>,
    clone_plugin: Option<PathBuf>,
    json: Option<PathBuf>,
    png: Option<PathBuf>,
    plot: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => {
                let what = value("--only")?;
                if !["plan", "bed", "starts"].contains(&what.as_str()) {
                    bail!("--only takes plan, bed or starts, not {what:?}\n{USAGE}");
                }
                options.only = Some(what);
            }
            "--clone-plugin" => options.clone_plugin = Some(value("--clone-plugin")?.into()),
            "--json" => options.json = Some(value("--json")?.into()),
            "--png" => options.png = Some(value("--png")?.into()),
            "--plot" => options.plot = Some(value("--plot")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    if let Some(state_dir) = std::env::var_os("THINJAIL_TESTBED_STATE") {
        let hosts = thinjail_testbed::testbed::TestBedHosts {
            state_dir: state_dir.into(),
            faults: thinjail_testbed::testbed::Faults::from_env(),
        };
        let env = thinjail_cli::Environment::with_hosts(Box::new(hosts));
        return ExitCode::from(thinjail_cli::run(&env, std::env::args_os()));
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("thinjail-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = parse(&args)?;
    if let Some(json) = &options.plot {
        let png = options
            .png
            .as_ref()
            .ok_or_else(|| anyhow!("--plot needs --png FILE\n{USAGE}"))?;
        let text =
            std::fs::read_to_string(json).with_context(|| format!("read {}", json.display()))?;
        let results: report::Results =
            serde_json::from_str(&text).with_context(|| format!("parse {}", json.display()))?;
        return plot::draw(&results, png);
    }
    let mut results = report::Results {
        command: std::env::var("THINJAIL_BENCH_COMMAND").unwrap_or_else(|_| {
            std::iter::once("thinjail-bench".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        ..report::Results::default()
    };
    let start_options = if options.quick {
        starts::StartOptions {
            jails: 4,
            rc_seconds: 0.5,
            bounds: vec![1, 2, 4],
            runs: 1,
        }
    } else {
        starts::StartOptions {
            jails: 8,
            rc_seconds: 0.5,
            bounds: vec![1, 2, 4, 8],
            runs: 3,
        }
    };
    if options.only.as_deref() == Some("starts") {
        thinjail_testbed::fixtures::prereq::require_root_and_zfs()
            .map_err(|why| anyhow!("{why}"))?;
        let binary = std::env::current_exe().context("the bench's own path")?;
        eprintln!("starting jails");
        let points = starts::run(&binary, &start_options)?;
        println!("Command: `{}`", results.command);
        print!("{}", report::starts_markdown(&points));
        return Ok(());
    }
    if options.only.as_deref() != Some("bed") {
        eprintln!("planning in memory");
        let sizes: &[usize] = if options.quick {
            &[1, 10, 100]
        } else {
            &[1, 10, 100, 1000]
        };
        results.plan = plan::run(sizes)?;
    }
    if options.only.as_deref() != Some("plan") {
        thinjail_testbed::fixtures::prereq::require_root_and_zfs()
            .map_err(|why| anyhow!("{why}"))?;
        let binary = std::env::current_exe().context("the bench's own path")?;
        let bed_options = if options.quick {
            bed::BedOptions {
                binary,
                create: 5,
                noop_at: vec![1, 5, 10],
                noop_runs: 3,
                clone_plugin: options.clone_plugin.clone(),
                base_mib: 8,
                template_mib: vec![1, 16],
            }
        } else {
            bed::BedOptions {
                binary,
                create: 50,
                noop_at: vec![1, 5, 10, 20, 50, 100],
                noop_runs: 5,
                clone_plugin: options.clone_plugin.clone(),
                base_mib: 256,
                template_mib: vec![1, 16, 64, 256],
            }
        };
        results.bed = Some(bed::run(&bed_options)?);
        eprintln!("starting jails");
        let binary = std::env::current_exe().context("the bench's own path")?;
        results.starts = starts::run(&binary, &start_options)?;
    }
    print!("{}", report::markdown(&results));
    print!("{}", report::starts_markdown(&results.starts));
    let json = options
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench/results.json"));
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("write {}", json.display()))?;
    eprintln!("wrote {}", json.display());
    if let Some(png) = &options.png {
        plot::draw(&results, png)?;
        eprintln!("wrote {}", png.display());
    }
    Ok(())
}
