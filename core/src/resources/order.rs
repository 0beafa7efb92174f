//! Starting several jails at once, bounded, in dependency order.
//!
//! jail(8) can run several jails' `exec.*` commands at the same time, at most
//! `-p LIMIT` of them (`paralimit` in `usr.sbin/jail/command.c`), but only for the
//! jails of one configuration file: `jail -c NAME` takes a single name (`jail.c`
//! starts `argv[0]` and its dependencies), and only `jail -c` without a name starts
//! every jail of the file. thinjail gives each jail a file of its own, so it starts
//! them the way rc.d/jail does with `jail_parallel_start` (one
//! `jail -f FILE -c NAME` per jail, in the background, `libexec/rc/rc.d/jail`),
//! with two things rc.d/jail does not do: at most `limit` run at once, and a jail
//! waits until every jail of the same start it depends on (directly or not) has
//! started — otherwise its own jail(8) would start that dependency too, racing the
//! other one.
//!
//! A jail that fails does not stop the others, as in jail(8)'s main loop (`failed`,
//! `dep_done` in `jail.c` and `state.c`): the jails that depend on it are skipped
//! (jail(8) says `NAME: skipped`), every other one is started, and the whole start
//! fails with the [`StartReport`], which says which jails started and which did
//! not. Nothing that started is stopped again.
//!
//! This is the scheduling alone (it knows neither actions nor hosts); which jails
//! start together, and in which order, is planned in the `start` module. A
//! parallel stop (planned in `crate::stop`) runs on the same scheduling
//! ([`stop_bounded`]), each jail waiting for the jails that depend on it instead;
//! its jails ([`JailStop`]) and report ([`StopReport`]) are here too.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};

/// One jail of a parallel start (the `start_jails` action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStart {
    /// jail.conf(5) holding the jail (its own file).
    pub conf: PathBuf,
    /// Jail name.
    pub jail: String,
    /// The jail's root (for the world model).
    pub root: PathBuf,
    /// The jails of the same start it depends on, directly or not: it starts only
    /// after each of them has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl JailStart {
    /// `jail -f CONF -c JAIL`.
    pub fn argv(&self) -> Vec<String> {
        jail_argv(&self.conf, "-c", &self.jail)
    }
}

/// How one jail of a parallel start ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartOutcome {
    /// It runs.
    Started,
    /// Its jail(8) failed, saying this.
    Failed(String),
    /// It was not tried: this jail it depends on did not start.
    Skipped(String),
}

/// What a parallel start did, jail by jail, in the order the start lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StartReport {
    /// Each jail and how it ended.
    pub outcomes: Vec<(String, StartOutcome)>,
}

impl StartReport {
    /// The jails that started.
    pub fn started(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o == StartOutcome::Started)
            .map(|(j, _)| j.as_str())
            .collect()
    }

    /// Whether every jail started.
    pub fn all_started(&self) -> bool {
        self.outcomes
            .iter()
            .all(|(_, o)| *o == StartOutcome::Started)
    }
}

impl std::fmt::Display for StartReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = self.started();
        let not = self.outcomes.len() - started.len();
        write!(
            f,
            "{not} of {} jails did not start; started (and left running): {}",
            self.outcomes.len(),
            if started.is_empty() {
                "none".to_string()
            } else {
                started.join(", ")
            }
        )?;
        for (jail, outcome) in &self.outcomes {
            match outcome {
                StartOutcome::Started => {}
                StartOutcome::Failed(why) => write!(f, "\n  {jail}: failed: {}", why.trim_end())?,
                StartOutcome::Skipped(dep) => write!(
                    f,
                    "\n  {jail}: skipped: it depends on {dep}, which did not start"
                )?,
            }
        }
        Ok(())
    }
}

/// How many jails start at once when the recipe does not say: the host's CPUs.
pub fn default_limit() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Ended(Ended),
}

/// Starts `jails` with `start`, at most `limit` at a time (at least one), each
/// after the jails of `jails` named in its `after` have started; a jail whose
/// dependency did not start is skipped, every other one is tried. Ready jails are
/// taken in the order given.
pub fn start_bounded<F, E>(jails: &[JailStart], limit: usize, start: F) -> StartReport
where
    F: Fn(&JailStart) -> Result<(), E> + Sync,
    E: std::fmt::Display,
{
    let ended = run_bounded(jails, |j| (&j.jail, &j.after), limit, start);
    StartReport {
        outcomes: ended
            .into_iter()
            .map(|(jail, ended)| {
                let outcome = match ended {
                    Ended::Done => StartOutcome::Started,
                    Ended::Failed(why) => StartOutcome::Failed(why),
                    Ended::Skipped(dep) => StartOutcome::Skipped(dep),
                };
                (jail, outcome)
            })
            .collect(),
    }
}

/// How one jail of a bounded run ([`run_bounded`]) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Its work succeeded.
    Done,
    /// Its work failed, saying this.
    Failed(String),
    /// It was not tried: this jail it had to wait for did not succeed.
    Skipped(String),
}

/// Runs `work` on each of `items`, at most `limit` at a time (at least one), each
/// after the items named in its `after` (`names_of` gives an item's name and
/// `after`) have succeeded; an item waiting for one that failed or was skipped is
/// skipped, every other one is tried. Ready items are taken in the order given.
/// The scheduling of a parallel start (names in `after`: the dependencies) and of
/// a parallel stop (the dependents), in the order given.
pub fn run_bounded<T, N, F, E>(
    items: &[T],
    names_of: N,
    limit: usize,
    work: F,
) -> Vec<(String, Ended)>
where
    T: Sync,
    N: Fn(&T) -> (&String, &Vec<String>) + Sync,
    F: Fn(&T) -> Result<(), E> + Sync,
    E: std::fmt::Display,
{
    fn name_with<'t, T, N: Fn(&T) -> (&String, &Vec<String>)>(
        names_of: &N,
        item: &'t T,
    ) -> &'t str {
        names_of(item).0.as_str()
    }
    let name = |item| name_with(&names_of, item);
    let names: BTreeSet<&str> = items.iter().map(name).collect();
    let state = Mutex::new(vec![Status::Waiting; items.len()]);
    let changed = Condvar::new();
    let index_of = |wanted: &str| items.iter().position(|i| name(i) == wanted);
    let worker = || loop {
        let Ok(mut status) = state.lock() else {
            return;
        };
        let next = loop {
            let mut pick = None;
            for (i, item) in items.iter().enumerate() {
                if status[i] != Status::Waiting {
                    continue;
                }
                let deps: Vec<usize> = names_of(item)
                    .1
                    .iter()
                    .filter(|d| names.contains(d.as_str()))
                    .filter_map(|d| index_of(d))
                    .collect();
                if let Some(&bad) = deps.iter().find(|&&d| {
                    matches!(
                        status[d],
                        Status::Ended(Ended::Failed(_) | Ended::Skipped(_))
                    )
                }) {
                    status[i] = Status::Ended(Ended::Skipped(name(&items[bad]).to_string()));
                    changed.notify_all();
                    continue;
                }
                if deps
                    .iter()
                    .all(|&d| status[d] == Status::Ended(Ended::Done))
                {
                    pick = Some(i);
                    break;
                }
            }
            if let Some(i) = pick {
                status[i] = Status::Running;
                break Some(i);
            }
            let waiting = status.contains(&Status::Waiting);
            let running = status.contains(&Status::Running);
            if !waiting {
                break None;
            }
            if !running {
                // Only a loop (refused by validation) leaves items waiting on each
                // other with nothing running: jail(8) fails them too.
                for s in status.iter_mut().filter(|s| **s == Status::Waiting) {
                    *s = Status::Ended(Ended::Failed("dependency loop".into()));
                }
                changed.notify_all();
                break None;
            }
            status = match changed.wait(status) {
                Ok(s) => s,
                Err(_) => return,
            };
        };
        let Some(i) = next else {
            return;
        };
        drop(status);
        let outcome = match work(&items[i]) {
            Ok(()) => Ended::Done,
            Err(e) => Ended::Failed(e.to_string()),
        };
        if let Ok(mut status) = state.lock() {
            status[i] = Status::Ended(outcome);
        }
        changed.notify_all();
    };
    let workers = limit.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(worker);
        }
    });
    let status = state.into_inner().unwrap_or_else(|e| e.into_inner());
    items
        .iter()
        .zip(status)
        .map(|(item, s)| {
            let outcome = match s {
                Status::Ended(o) => o,
                // A worker that panicked left its item running or waiting.
                _ => Ended::Failed("not run: the worker stopped".into()),
            };
            (name(item).to_string(), outcome)
        })
        .collect()
}

/// One jail of a parallel stop (the `stop_jails` action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStop {
    /// jail.conf(5) holding the jail (its own file).
    pub conf: PathBuf,
    /// Jail name.
    pub jail: String,
    /// The jails of the same stop that depend on it, directly or not: it stops
    /// only after each of them has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// The rctl(8) rules thinjail set on it that the kernel still has, removed
    /// (`rctl -r`) once it has stopped: rules outlive a jail in the kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_limits: Vec<String>,
}

impl JailStop {
    /// `jail -f CONF -r JAIL`.
    pub fn argv(&self) -> Vec<String> {
        jail_argv(&self.conf, "-r", &self.jail)
    }

    /// `rctl -r RULE…` of [`JailStop::remove_limits`], `None` when there are none.
    pub fn remove_limits_argv(&self) -> Option<Vec<String>> {
        (!self.remove_limits.is_empty()).then(|| {
            ["rctl".to_string(), "-r".into()]
                .into_iter()
                .chain(self.remove_limits.iter().cloned())
                .collect()
        })
    }
}

/// `jail -f CONF FLAG JAIL`.
fn jail_argv(conf: &std::path::Path, flag: &str, jail: &str) -> Vec<String> {
    vec![
        "jail".to_string(),
        "-f".into(),
        conf.display().to_string(),
        flag.into(),
        jail.to_string(),
    ]
}

/// How one jail of a parallel stop ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopOutcome {
    /// It stopped (and its rules are removed).
    Stopped,
    /// Its jail(8) (or the removal of its rules) failed, saying this.
    Failed(String),
    /// It was not tried: this jail, which depends on it, did not stop.
    Skipped(String),
}

/// What a parallel stop did, jail by jail, in the order the stop lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StopReport {
    /// Each jail and how it ended.
    pub outcomes: Vec<(String, StopOutcome)>,
}

impl StopReport {
    /// The jails that stopped.
    pub fn stopped(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o == StopOutcome::Stopped)
            .map(|(j, _)| j.as_str())
            .collect()
    }

    /// Whether every jail stopped.
    pub fn all_stopped(&self) -> bool {
        self.outcomes
            .iter()
            .all(|(_, o)| *o == StopOutcome::Stopped)
    }
}

impl std::fmt::Display for StopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stopped = self.stopped();
        let not = self.outcomes.len() - stopped.len();
        write!(
            f,
            "{not} of {} jails did not stop; stopped: {}",
            self.outcomes.len(),
            if stopped.is_empty() {
                "none".to_string()
            } else {
                stopped.join(", ")
            }
        )?;
        for (jail, outcome) in &self.outcomes {
            match outcome {
                StopOutcome::Stopped => {}
                StopOutcome::Failed(why) => write!(f, "\n  {jail}: failed: {}", why.trim_end())?,
                StopOutcome::Skipped(dependent) => write!(
                    f,
                    "\n  {jail}: skipped (still running): {dependent}, which depends on it, did not stop"
                )?,
            }
        }
        Ok(())
    }
}

/// Stops `jails` with `stop`, at most `limit` at a time (at least one), each after
/// the jails of `jails` named in its `after` (its dependents) have stopped; a jail
/// whose dependent did not stop is skipped, every other one is tried.
pub fn stop_bounded<F, E>(jails: &[JailStop], limit: usize, stop: F) -> StopReport
where
    F: Fn(&JailStop) -> Result<(), E> + Sync,
    E: std::fmt::Display,
{
    StopReport {
        outcomes: run_bounded(jails, |j| (&j.jail, &j.after), limit, stop)
            .into_iter()
            .map(|(jail, ended)| {
                let outcome = match ended {
                    Ended::Done => StopOutcome::Stopped,
                    Ended::Failed(why) => StopOutcome::Failed(why),
                    Ended::Skipped(dependent) => StopOutcome::Skipped(dependent),
                };
                (jail, outcome)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn jail(name: &str, after: &[&str]) -> JailStart {
        JailStart {
            conf: format!("/etc/jail.conf.d/{name}.conf").into(),
            jail: name.into(),
            root: format!("/j/{name}").into(),
            after: after.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn no_more_than_the_limit_run_at_once_and_dependencies_come_first() {
        let jails = [
            jail("a", &[]),
            jail("b", &[]),
            jail("c", &["a"]),
            jail("d", &[]),
            jail("e", &["c", "a"]),
        ];
        for limit in [1, 2, 3, 10] {
            let now = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            let order = Mutex::new(Vec::new());
            let report = start_bounded(&jails, limit, |j| {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                order.lock().unwrap().push(j.jail.clone());
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), String>(())
            });
            assert_eq!(report.started(), ["a", "b", "c", "d", "e"]);
            assert!(report.all_started());
            assert!(most.load(Ordering::SeqCst) <= limit, "limit {limit}");
            let order = order.into_inner().unwrap();
            let at = |n: &str| order.iter().position(|j| j == n).unwrap();
            assert!(at("a") < at("c") && at("c") < at("e"), "{order:?}");
            if limit == 1 {
                assert_eq!(order, ["a", "b", "c", "d", "e"]);
            }
        }
    }

    #[test]
    fn a_failure_skips_its_dependents_and_the_others_start() {
        let jails = [
            jail("db", &[]),
            jail("www", &["db"]),
            jail("api", &["www", "db"]),
            jail("cache", &[]),
        ];
        let report = start_bounded(&jails, 4, |j| {
            if j.jail == "db" {
                Err("jail: db: /bin/sh /etc/rc: failed")
            } else {
                Ok(())
            }
        });
        assert_eq!(report.started(), ["cache"]);
        assert_eq!(
            report.outcomes[1].1,
            StartOutcome::Skipped("db".into()),
            "{report:?}"
        );
        assert!(matches!(report.outcomes[2].1, StartOutcome::Skipped(_)));
        assert!(!report.all_started());
        let error = report.to_string();
        assert_eq!(
            error,
            "3 of 4 jails did not start; started (and left running): cache\n  \
             db: failed: jail: db: /bin/sh /etc/rc: failed\n  \
             www: skipped: it depends on db, which did not start\n  \
             api: skipped: it depends on www, which did not start"
        );
    }

    #[test]
    fn dependencies_outside_the_start_do_not_hold_a_jail_back() {
        let jails = [jail("www", &["db"])];
        let report = start_bounded(&jails, 2, |_| Ok::<(), String>(()));
        assert_eq!(report.started(), ["www"]);
        assert!(start_bounded(&[], 2, |_| Ok::<(), String>(()))
            .outcomes
            .is_empty());
    }
}
