//! The work queue of a run's worker pool: jobs may add jobs (the parts of
//! a large file).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use super::download::Download;
use super::lock;
use super::upload::Upload;

/// One unit of work for a worker.
pub(super) enum Job {
    /// Same size on both sides: compare, then copy, skip or keep.
    Compare(String),
    /// Copy from the source to the destination.
    Copy(String),
    /// One part of a multipart upload.
    UploadPart(Arc<Upload>, u16),
    /// One range of a download in parts.
    DownloadPart(Arc<Download>, u32),
    /// Delete from the destination.
    Remove(String),
}

impl Job {
    pub(super) fn rel(&self) -> &str {
        match self {
            Job::Compare(r) | Job::Copy(r) | Job::Remove(r) => r,
            Job::UploadPart(u, _) => &u.rel,
            Job::DownloadPart(d, _) => &d.rel,
        }
    }
}

/// The work queue: jobs may add jobs (the parts of a large file).
pub(super) struct Queue {
    state: Mutex<(VecDeque<Job>, usize)>,
    wake: Condvar,
}

impl Queue {
    pub(super) fn new(jobs: Vec<Job>) -> Queue {
        Queue {
            state: Mutex::new((jobs.into(), 0)),
            wake: Condvar::new(),
        }
    }

    /// The next job, or `None` once the queue is empty and no job runs.
    pub(super) fn next(&self) -> Option<Job> {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.0.pop_front() {
                st.1 += 1;
                return Some(job);
            }
            if st.1 == 0 {
                self.wake.notify_all();
                return None;
            }
            st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(super) fn done(&self) {
        let mut st = lock(&self.state);
        st.1 = st.1.saturating_sub(1);
        if st.0.is_empty() && st.1 == 0 {
            self.wake.notify_all();
        }
    }

    /// Adds jobs at the front: parts of a file started go before new files.
    pub(super) fn push_front(&self, jobs: Vec<Job>) {
        let mut st = lock(&self.state);
        for j in jobs.into_iter().rev() {
            st.0.push_front(j);
        }
        self.wake.notify_all();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queue_lets_jobs_add_jobs() {
        let q = Queue::new(vec![Job::Copy("a".into())]);
        let j = q.next().unwrap();
        assert_eq!(j.rel(), "a");
        q.push_front(vec![Job::Remove("b".into()), Job::Remove("c".into())]);
        q.done();
        assert_eq!(q.next().unwrap().rel(), "b");
        q.done();
        assert_eq!(q.next().unwrap().rel(), "c");
        q.done();
        assert!(q.next().is_none());
    }
}
