//! Progress of long steps (downloads, extraction) for front ends.

/// Shows the progress of long steps (downloads, extraction).
pub trait Progress: Send + Sync {
    /// Starts a task; `total` is its size in bytes when known.
    fn task(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask>;
}

/// One task's progress.
pub trait ProgressTask: Send {
    /// `bytes` more were done.
    fn advance(&self, bytes: u64);
    /// The task ended.
    fn finish(&self);
}

/// Progress that shows nothing.
pub struct NoProgress;

struct NoTask;

impl ProgressTask for NoTask {
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

impl Progress for NoProgress {
    fn task(&self, _label: &str, _total: Option<u64>) -> Box<dyn ProgressTask> {
        Box::new(NoTask)
    }
}
