//! Measurements on the Linux test bed: real zfs-fuse datasets, bind mounts and
//! chroot jails, driven in-process through the same pipeline, executor and
//! [`TestBed`] host as `thinjail apply` (and, for the up-to-date apply, through the
//! real command line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use thinjail_core::action::Action;
use thinjail_core::apply::{apply_plan, ApplyEvent};
use thinjail_core::confine::Confinement;
use thinjail_core::host::{Host, NoProgress};
use thinjail_core::layout::{Layout, GOLD_SNAPSHOT, INSTALL_SNAPSHOT};
use thinjail_core::observe::observe;
use thinjail_core::pipeline::{Pipeline, StageLoader};
use thinjail_core::recipe::{Jail, StageEntry};
use thinjail_core::Recipe;
use thinjail_core::Snapshot;
use thinjail_testbed::fixtures::base::{
    pack_tree_as_set, populate_base_tree, sha256_file, write_manifest, DistSet,
};
use thinjail_testbed::fixtures::http::release_dir;
use thinjail_testbed::fixtures::pool::TestPool;
use thinjail_testbed::harness::Bed;
use thinjail_testbed::samples::{self, numbered_jail};
use thinjail_testbed::testbed::{Faults, TestBed};

use crate::stats::median;

/// How each jail's data is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// The built-in `mount` stage: `zfs send template@gold | zfs receive` (the article).
    SendReceive,
    /// The `clone-mount` plugin stage: `zfs clone template@gold`.
    ClonePlugin(PathBuf),
}

impl Method {
    /// Short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Method::SendReceive => "send/receive",
            Method::ClonePlugin(_) => "clone",
        }
    }
}

/// Where the time of one `apply` went.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ApplyTiming {
    /// Observation (one `zfs get`, the mount table, running jails, probed paths).
    pub observe_ms: f64,
    /// Planning.
    pub plan_ms: f64,
    /// Carrying out the plan.
    pub apply_ms: f64,
    /// The three together.
    pub total_ms: f64,
    /// Host commands run (observation included).
    pub commands: usize,
    /// Actions carried out.
    pub actions: usize,
    /// Milliseconds by action kind (`send_receive`, `clone`, `start_jail`…).
    pub by_action: BTreeMap<String, f64>,
}

/// The N-th jail of a series: how long adding it took and what it occupies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatePoint {
    /// Jails on the host once this one is made.
    pub n: usize,
    /// The whole `apply` that added it.
    pub timing: ApplyTiming,
    /// Milliseconds of the step that made its data (send/receive or clone).
    pub data_ms: f64,
    /// `used` of the jail's dataset (its data and fstab), bytes.
    pub used: u64,
    /// `referenced` of its data dataset, bytes.
    pub referenced: u64,
    /// `used` of the jails dataset (bases, templates and all jails), bytes.
    pub total_used: u64,
}

/// The N-th thick jail: a full copy of the installed base.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThickPoint {
    /// Thick jails once this one is made.
    pub n: usize,
    /// `zfs send base@install | zfs receive`, milliseconds.
    pub ms: f64,
    /// `used` of its dataset, bytes.
    pub used: u64,
    /// `referenced`, bytes.
    pub referenced: u64,
    /// `used` of the N thick jails together, bytes (each is destroyed once measured, so
    /// the test pool stays small: this is the sum of their `used`).
    pub total_used: u64,
}

/// Observing and re-applying a host that already matches its recipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoopPoint {
    /// Jails on the host (all running).
    pub n: usize,
    /// Host commands one observation ran (in-process).
    pub observe_commands: usize,
    /// Median milliseconds of one observation (in-process).
    pub observe_ms: f64,
    /// Median milliseconds of planning against it (in-process).
    pub plan_ms: f64,
    /// Median wall milliseconds of `thinjail apply RECIPE --yes --json` (a new process).
    pub cli_ms: f64,
    /// `commands` reported by that apply.
    pub cli_commands: usize,
    /// Repetitions behind the medians.
    pub runs: usize,
}

/// Making a jail's data from templates of growing size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizePoint {
    /// Data in the template's @gold, MiB.
    pub template_mib: u64,
    /// Median `zfs send | zfs receive`, milliseconds.
    pub send_receive_ms: f64,
    /// Median `zfs clone`, milliseconds.
    pub clone_ms: f64,
    /// `used` of a received copy, bytes.
    pub send_receive_used: u64,
    /// `used` of a clone, bytes.
    pub clone_used: u64,
    /// Repetitions behind the medians.
    pub runs: usize,
}

/// Everything measured on the test bed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BedResults {
    /// Applying base and template (no jail yet), send/receive bed.
    pub setup: Option<ApplyTiming>,
    /// The N-th jail, send/receive.
    pub send_receive: Vec<CreatePoint>,
    /// The N-th jail, clone.
    pub clone: Vec<CreatePoint>,
    /// How the clone series was made.
    pub clone_source: String,
    /// The N-th thick jail.
    pub thick: Vec<ThickPoint>,
    /// The size of the installed base (`referenced` of base@install), bytes.
    pub base_bytes: u64,
    /// The size of the template (`referenced` of template@gold), bytes.
    pub template_bytes: u64,
    /// Up-to-date hosts.
    pub noop: Vec<NoopPoint>,
    /// One apply that adds many jails at once: (jails before, jails after, timing).
    pub batch: Option<(usize, usize, ApplyTiming)>,
    /// Data from templates of growing size.
    pub template_size: Vec<SizePoint>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BedOptions {
    /// `thinjail-bench` itself, which acts as `thinjail-testbed` for the command-line runs.
    pub binary: PathBuf,
    /// Jails in each creation series (1..=this).
    pub create: usize,
    /// Jail counts at which the up-to-date host is measured.
    pub noop_at: Vec<usize>,
    /// Repetitions of each up-to-date measurement.
    pub noop_runs: usize,
    /// The clone-mount plugin library, if built.
    pub clone_plugin: Option<PathBuf>,
    /// MiB of shared libraries added to the synthetic base.
    pub base_mib: u64,
    /// Template sizes (MiB) for the size experiment.
    pub template_mib: Vec<u64>,
}

/// The recipe of `bed` with jails `j0001..=j{n}` (all started), made by `method`.
fn recipe_for(bed: &Bed, n: usize, method: &Method) -> anyhow::Result<Recipe> {
    let mut recipe = bed.recipe.clone();
    let template = Jail {
        name: "j".into(),
        release: recipe
            .releases
            .first()
            .map(|r| r.name.clone())
            .ok_or_else(|| anyhow!("the bed's recipe has no release"))?,
        ip4: vec![],
        ip6: vec![],
        params: BTreeMap::new(),
        start: true,
        mounts: vec![],
        limits: vec![],
        cpuset: None,
        depend: vec![],
        priority: 0,
        vnet: None,
        datasets: vec![],
    };
    recipe.jails = (1..=n).map(|i| numbered_jail(&template, i)).collect();
    if let Method::ClonePlugin(library) = method {
        for stage in &mut recipe.stages {
            if stage.name == "mount" {
                *stage = StageEntry {
                    name: "clone-mount".into(),
                    plugin: Some(library.display().to_string()),
                    config: None,
                };
            }
        }
    }
    Ok(recipe)
}

fn loader(recipe: &Recipe) -> Box<dyn StageLoader> {
    thinjail_cli::plugins::loader(&[], &recipe.host.jails_dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Observes, plans and applies `recipe` in-process on the test bed, timing each part
/// and each action.
fn apply(host: &mut TestBed, recipe: &Recipe) -> anyhow::Result<ApplyTiming> {
    let pipeline = Pipeline::from_recipe(recipe, loader(recipe).as_mut())
        .map_err(|e| anyhow!("recipe stages: {e:?}"))?;
    let commands_before = host.commands_run();
    let started = Instant::now();
    let world = observe(host, &pipeline, recipe)?;
    let observed = Instant::now();
    let plan = pipeline.plan(recipe, &world)?;
    let planned = Instant::now();
    let mut by_action: BTreeMap<String, f64> = BTreeMap::new();
    let mut action_started = Instant::now();
    let confinement = Confinement::new(&Layout::new(recipe));
    let report = apply_plan(&plan, host, &confinement, &mut |event| match event {
        ApplyEvent::Starting { .. } => action_started = Instant::now(),
        ApplyEvent::Done { action, .. } => {
            *by_action.entry(kind(action)).or_default() += ms(action_started.elapsed());
        }
    })
    .map_err(|failure| anyhow!("{failure}"))?;
    let done = Instant::now();
    Ok(ApplyTiming {
        observe_ms: ms(observed - started),
        plan_ms: ms(planned - observed),
        apply_ms: ms(done - planned),
        total_ms: ms(done - started),
        commands: host.commands_run() - commands_before,
        actions: report.applied.len(),
        by_action,
    })
}

/// The action's name in plans' JSON (`send_receive`, `clone`…).
fn kind(action: &Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(String::from))
        .unwrap_or_else(|| "other".into())
}

/// `zfs get -p PROPERTIES NAMES…` as (name, property) → value in bytes.
fn zfs_get(properties: &str, names: &[String]) -> anyhow::Result<BTreeMap<(String, String), u64>> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(samples::zfs_get(properties, &names, true)?
        .into_iter()
        .map(|(key, value)| (key, value.parse().unwrap_or(0)))
        .collect())
}

fn value(values: &BTreeMap<(String, String), u64>, name: &str, property: &str) -> u64 {
    values
        .get(&(name.to_string(), property.to_string()))
        .copied()
        .unwrap_or(0)
}

/// A bed with the article's recipe, no jail yet, and a base set whose `usr/lib` also
/// holds `base_mib` MiB of incompressible data (a real base is mostly libraries and
/// programs that every thin jail shares and every thick jail copies).
fn new_bed(binary: &Path, base_mib: u64) -> anyhow::Result<Bed> {
    let binary = binary
        .to_str()
        .ok_or_else(|| anyhow!("the bench's path is not UTF-8"))?;
    let bed = Bed::article(binary, |recipe| recipe.jails.clear());
    if base_mib > 0 {
        let release = first_release(&bed);
        let sets = release_dir(&bed.dir.path().join("mirror"), &release);
        let tree = tempfile::tempdir()?;
        populate_base_tree(tree.path())?;
        write_filler(&tree.path().join("usr/lib/libbench-filler.so.1"), base_mib)?;
        let archive = sets.join("base.txz");
        // As the test bed's own sets: a pax archive with its schg flags inside.
        pack_tree_as_set(tree.path(), &archive, Some(0))?;
        let listing = Command::new("bsdtar").arg("-tf").arg(&archive).output()?;
        let set = DistSet {
            name: "base".into(),
            sha256: sha256_file(&archive)?,
            entries: String::from_utf8_lossy(&listing.stdout).lines().count(),
            path: archive,
        };
        write_manifest(&sets, &[set])?;
    }
    Ok(bed)
}

fn host_for(bed: &Bed) -> TestBed {
    TestBed::new(bed.state_dir(), Faults::default(), Box::new(NoProgress))
}

/// Adds jails one at a time up to `count`, recording each.
fn creation_series(
    bed: &Bed,
    host: &mut TestBed,
    method: &Method,
    count: usize,
    mut at_each: impl FnMut(usize, &mut TestBed) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<CreatePoint>> {
    let layout_recipe = bed.recipe.clone();
    let layout = Layout::new(&layout_recipe);
    let data_kind = match method {
        Method::SendReceive => "send_receive",
        Method::ClonePlugin(_) => "clone",
    };
    let mut points = Vec::new();
    for n in 1..=count {
        let recipe = recipe_for(bed, n, method)?;
        let timing = apply(host, &recipe).with_context(|| format!("adding jail {n}"))?;
        let jail = format!("j{n:04}");
        let (jail_dataset, data) = (layout.jail_dataset(&jail), layout.data_dataset(&jail));
        let jails = layout.jails_dataset().to_string();
        let values = zfs_get(
            "used,referenced",
            &[jail_dataset.clone(), data.clone(), jails.clone()],
        )?;
        let point = CreatePoint {
            n,
            data_ms: timing.by_action.get(data_kind).copied().unwrap_or(0.0),
            timing,
            used: value(&values, &jail_dataset, "used"),
            referenced: value(&values, &data, "referenced"),
            total_used: value(&values, &jails, "used"),
        };
        eprintln!(
            "  {} jail {n:>3}: apply {:7.1} ms (data {:6.1} ms), used {} B",
            method.name(),
            point.timing.total_ms,
            point.data_ms,
            point.used
        );
        points.push(point);
        at_each(n, host)?;
    }
    Ok(points)
}

/// Observes and plans an up-to-date host `runs` times in-process, then runs the real
/// `thinjail apply --yes --json` on it `runs` times.
fn noop_point(bed: &Bed, host: &mut TestBed, n: usize, runs: usize) -> anyhow::Result<NoopPoint> {
    let recipe = recipe_for(bed, n, &Method::SendReceive)?;
    let pipeline = Pipeline::from_recipe(&recipe, loader(&recipe).as_mut())
        .map_err(|e| anyhow!("recipe stages: {e:?}"))?;
    let (mut observe_ms, mut plan_ms, mut commands) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let before = host.commands_run();
        let started = Instant::now();
        let world = observe(host, &pipeline, &recipe)?;
        let observed = Instant::now();
        let plan = pipeline.plan(&recipe, &world)?;
        plan_ms.push(ms(observed.elapsed()));
        observe_ms.push(ms(observed - started));
        commands = host.commands_run() - before;
        if !plan.is_empty() {
            bail!(
                "the host with {n} jails is not up to date: {} actions planned",
                plan.len()
            );
        }
    }
    std::fs::write(bed.recipe_path(), recipe.to_ron())?;
    let recipe_arg = bed.recipe_arg();
    let (mut cli_ms, mut cli_commands) = (Vec::new(), 0);
    for _ in 0..runs {
        let started = Instant::now();
        let run = bed.thinjail(&["apply", &recipe_arg, "--yes", "--json"]);
        cli_ms.push(ms(started.elapsed()));
        if run.code != Some(0) {
            bail!(
                "thinjail apply on {n} jails exited {:?}: {}",
                run.code,
                run.stderr
            );
        }
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .with_context(|| format!("apply --json printed {:?}", run.stdout))?;
        if report["changed"] != false {
            bail!(
                "thinjail apply on {n} up-to-date jails changed something: {}",
                run.stdout
            );
        }
        cli_commands = report["commands"].as_u64().unwrap_or(0) as usize;
    }
    let point = NoopPoint {
        n,
        observe_commands: commands,
        observe_ms: median(&observe_ms),
        plan_ms: median(&plan_ms),
        cli_ms: median(&cli_ms),
        cli_commands,
        runs,
    };
    eprintln!(
        "  up to date with {n:>3} jails: observe {:.1} ms ({} commands), plan {:.2} ms, thinjail apply {:.1} ms ({} commands)",
        point.observe_ms, point.observe_commands, point.plan_ms, point.cli_ms, point.cli_commands
    );
    Ok(point)
}

/// Thick jails: `count` full copies of the installed base, under `<pool>/thick`.
fn thick_series(bed: &Bed, host: &mut TestBed, count: usize) -> anyhow::Result<Vec<ThickPoint>> {
    let layout = Layout::new(&bed.recipe);
    let release = bed
        .recipe
        .releases
        .first()
        .map(|r| r.name.clone())
        .ok_or_else(|| anyhow!("no release"))?;
    let base = layout.base_dataset(&release);
    let container = format!("{}/thick", bed.pool.name());
    host.apply(&Action::CreateDataset {
        dataset: container.clone(),
        mountpoint: None,
        parents: false,
        properties: Default::default(),
    })?;
    let (mut points, mut total) = (Vec::new(), 0);
    for n in 1..=count {
        let target = format!("{container}/t{n:04}");
        let started = Instant::now();
        host.apply(&Action::SendReceive {
            dataset: base.clone(),
            snapshot: INSTALL_SNAPSHOT.into(),
            target: target.clone(),
        })?;
        let elapsed = ms(started.elapsed());
        let values = zfs_get("used,referenced", std::slice::from_ref(&target))?;
        let used = value(&values, &target, "used");
        total += used;
        let point = ThickPoint {
            n,
            ms: elapsed,
            used,
            referenced: value(&values, &target, "referenced"),
            total_used: total,
        };
        host.apply(&Action::DestroyDataset {
            dataset: target,
            recursive: true,
        })?;
        eprintln!(
            "  thick jail {n:>3}: {:7.1} ms, used {} B",
            point.ms, point.used
        );
        points.push(point);
    }
    Ok(points)
}

/// Fills `path` with `mib` MiB of incompressible bytes.
fn write_filler(path: &Path, mib: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(())
}

/// Clone and send/receive of templates holding `sizes` MiB, on a pool of their own.
fn template_size_series(sizes: &[u64], runs: usize) -> anyhow::Result<Vec<SizePoint>> {
    if sizes.is_empty() {
        return Ok(vec![]);
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let pool_bytes = ((largest * (runs as u64 + 2) + 256) << 20).max(512 << 20);
    let pool = TestPool::with_size(pool_bytes).context("create the size experiment's pool")?;
    let state = tempfile::tempdir()?;
    let mut host = TestBed::new(state.path(), Faults::default(), Box::new(NoProgress));
    let mut points = Vec::new();
    for &mib in sizes {
        let template = format!("{}/t{mib}", pool.name());
        host.apply(&Action::CreateDataset {
            dataset: template.clone(),
            mountpoint: None,
            parents: false,
            properties: Default::default(),
        })?;
        write_filler(&pool.mountpoint().join(format!("t{mib}/filler")), mib)?;
        host.apply(&Action::Snapshot {
            dataset: template.clone(),
            snapshot: GOLD_SNAPSHOT.into(),
        })?;
        let (mut send, mut clone) = (Vec::new(), Vec::new());
        let (mut send_used, mut clone_used) = (0, 0);
        for run in 0..runs {
            for (copy, times) in [(true, &mut send), (false, &mut clone)] {
                let target = format!(
                    "{}/{}{mib}x{run}",
                    pool.name(),
                    if copy { "r" } else { "c" }
                );
                let action = if copy {
                    Action::SendReceive {
                        dataset: template.clone(),
                        snapshot: GOLD_SNAPSHOT.into(),
                        target: target.clone(),
                    }
                } else {
                    Action::Clone {
                        dataset: template.clone(),
                        snapshot: GOLD_SNAPSHOT.into(),
                        target: target.clone(),
                        properties: Default::default(),
                    }
                };
                let started = Instant::now();
                host.apply(&action)?;
                times.push(ms(started.elapsed()));
                let used = value(
                    &zfs_get("used", std::slice::from_ref(&target))?,
                    &target,
                    "used",
                );
                if copy {
                    send_used = used;
                } else {
                    clone_used = used;
                }
                // The pool holds one copy at a time: destroy it before the next.
                host.apply(&Action::DestroyDataset {
                    dataset: target,
                    recursive: true,
                })?;
            }
        }
        let point = SizePoint {
            template_mib: mib,
            send_receive_ms: median(&send),
            clone_ms: median(&clone),
            send_receive_used: send_used,
            clone_used,
            runs,
        };
        eprintln!(
            "  template of {mib:>4} MiB: send/receive {:8.1} ms, clone {:6.1} ms",
            point.send_receive_ms, point.clone_ms
        );
        points.push(point);
    }
    drop(host);
    pool.destroy()
        .context("destroy the size experiment's pool")?;
    Ok(points)
}

/// Runs every test-bed measurement.
pub fn run(options: &BedOptions) -> anyhow::Result<BedResults> {
    let mut results = BedResults::default();

    eprintln!("test bed: send/receive series (the built-in mount stage)");
    let bed = new_bed(&options.binary, options.base_mib)?;
    let mut host = host_for(&bed);
    results.setup = Some(apply(
        &mut host,
        &recipe_for(&bed, 0, &Method::SendReceive)?,
    )?);
    let layout = Layout::new(&bed.recipe);
    let release = first_release(&bed);
    let (base, template) = (
        layout.base_dataset(&release),
        layout.template_dataset(&release),
    );
    let snapshots = [
        Snapshot::new(&base, INSTALL_SNAPSHOT).to_string(),
        Snapshot::new(&template, GOLD_SNAPSHOT).to_string(),
    ];
    let sizes = zfs_get("referenced", &snapshots)?;
    results.base_bytes = value(&sizes, &snapshots[0], "referenced");
    results.template_bytes = value(&sizes, &snapshots[1], "referenced");

    let mut noop = Vec::new();
    let noop_at = options.noop_at.clone();
    results.send_receive = creation_series(
        &bed,
        &mut host,
        &Method::SendReceive,
        options.create,
        |n, host| {
            if noop_at.contains(&n) {
                noop.push(noop_point(&bed, host, n, options.noop_runs)?);
            }
            Ok(())
        },
    )?;
    let mut from = options.create;
    for &n in noop_at.iter().filter(|&&n| n > options.create) {
        let timing = apply(&mut host, &recipe_for(&bed, n, &Method::SendReceive)?)?;
        eprintln!(
            "  one apply from {from} to {n} jails: {:.1} s ({:.0} ms a jail)",
            timing.total_ms / 1e3,
            timing.total_ms / (n - from) as f64
        );
        results.batch = Some((from, n, timing));
        noop.push(noop_point(&bed, &mut host, n, options.noop_runs)?);
        from = n;
    }
    results.noop = noop;

    eprintln!("test bed: thick jails (zfs send base@install | zfs receive)");
    results.thick = thick_series(&bed, &mut host, options.create)?;
    drop(host);
    drop(bed);

    let method = match &options.clone_plugin {
        Some(library) => {
            let file = library.file_name().unwrap_or(library.as_os_str());
            results.clone_source = format!(
                "the clone-mount plugin ({}), loaded like any plugin stage",
                file.to_string_lossy()
            );
            Some(Method::ClonePlugin(library.clone()))
        }
        None => {
            results.clone_source = "not measured: no --clone-plugin given".into();
            None
        }
    };
    if let Some(method) = method {
        eprintln!("test bed: clone series ({})", results.clone_source);
        let bed = new_bed(&options.binary, options.base_mib)?;
        let mut host = host_for(&bed);
        apply(&mut host, &recipe_for(&bed, 0, &method)?)?;
        results.clone = creation_series(&bed, &mut host, &method, options.create, |_, _| Ok(()))?;
    }

    eprintln!("test bed: making a jail's data from templates of growing size");
    results.template_size = template_size_series(&options.template_mib, 3)?;
    Ok(results)
}

/// The name of the bed's (first) release.
fn first_release(bed: &Bed) -> String {
    bed.recipe
        .releases
        .first()
        .map(|r| r.name.clone())
        .unwrap_or_default()
}
