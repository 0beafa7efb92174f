//! Progress for long host steps: an indicatif bar on a terminal, log lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use thinjail_core::host::{NoProgress, Progress, ProgressTask};

/// The progress reporter for this run: bars when standard error is a terminal.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars)
    } else {
        Box::new(LogOnly)
    }
}

/// Progress that shows nothing (JSON output, tests).
pub fn silent() -> Box<dyn Progress> {
    Box::new(NoProgress)
}

struct Bars;

struct BarTask(ProgressBar);

impl Progress for Bars {
    fn task(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask> {
        let bar = match total {
            Some(total) => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg}\n  [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            }
            None => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg}\n  {bytes} {bytes_per_sec} {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        bar.set_message(label.to_string());
        Box::new(BarTask(bar))
    }
}

impl ProgressTask for BarTask {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

struct LogOnly;

struct LogTask {
    label: String,
    started: Instant,
    bytes: Mutex<u64>,
}

impl Progress for LogOnly {
    fn task(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask> {
        tracing::info!(total, "{label}");
        Box::new(LogTask {
            label: label.to_string(),
            started: Instant::now(),
            bytes: Mutex::new(0),
        })
    }
}

impl ProgressTask for LogTask {
    fn advance(&self, bytes: u64) {
        if let Ok(mut done) = self.bytes.lock() {
            *done += bytes;
        }
    }
    fn finish(&self) {
        let bytes = self.bytes.lock().map(|b| *b).unwrap_or(0);
        tracing::info!(
            bytes,
            seconds = self.started.elapsed().as_secs_f64(),
            "done: {}",
            self.label
        );
    }
}
