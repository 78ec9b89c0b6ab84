//! What the clients asked for and what they were told: the checker's half of the truth.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Create,
    /// A dispatcher offers an escalated request to a group of their choice.
    Assign,
    Accept,
    Decline,
    EnRoute,
    OnSite,
    Complete,
}

/// What a call's answer says about its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: the effect must be there.
    Ok,
    /// Refused: the effect must not be there (unless another attempt with the same
    /// `request_id` was acknowledged).
    Failed(Code),
    /// The call may or may not have taken effect: the connection broke, the deadline passed,
    /// the server could not tell.
    Unknown(Code),
}

impl Outcome {
    pub fn of<T>(result: &Result<T, tonic::Status>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(status) => match status.code() {
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Internal
                | Code::Unknown
                | Code::DataLoss => Outcome::Unknown(status.code()),
                code => Outcome::Failed(code),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub call: Call,
    /// The idempotency key the call carried; retries of one operation share it.
    pub request_id: String,
    /// What the call acted on: the assignment's name, the request's for assigns, empty for
    /// creates.
    pub target: String,
    /// The resource name an acknowledged call returned.
    pub result: String,
    pub outcome: Outcome,
    pub at: Duration,
}

pub struct History {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    /// What the nemesis did and when, on the same clock.
    faults: Mutex<Vec<(Duration, String)>>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        }
    }
}

impl History {
    pub fn record(
        &self,
        call: Call,
        request_id: &str,
        target: &str,
        result: &str,
        outcome: Outcome,
    ) {
        let entry = Entry {
            call,
            request_id: request_id.to_string(),
            target: target.to_string(),
            result: result.to_string(),
            outcome,
            at: self.start.elapsed(),
        };
        self.entries.lock().unwrap().push(entry);
    }

    pub fn fault(&self, what: String) {
        self.faults
            .lock()
            .unwrap()
            .push((self.start.elapsed(), what));
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().unwrap().clone()
    }

    /// Writes the calls to `history.tsv` and the faults to `faults.tsv` in `dir`, as
    /// tab-separated lines, for reading after a failed run.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use std::fmt::Write;
        let mut faults = String::from("at_ms\tfault\n");
        for (at, what) in self.faults.lock().unwrap().iter() {
            let _ = writeln!(faults, "{}\t{what}", at.as_millis());
        }
        std::fs::write(dir.join("faults.tsv"), faults)?;
        let mut out = String::from("at_ms\tcall\trequest_id\ttarget\tresult\toutcome\n");
        for e in self.entries.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "{}\t{:?}\t{}\t{}\t{}\t{:?}",
                e.at.as_millis(),
                e.call,
                e.request_id,
                e.target,
                e.result,
                e.outcome
            );
        }
        std::fs::write(dir.join("history.tsv"), out)
    }
}
