//! A point in time a probe must finish by; passed down to every loop, sleep
//! and subprocess so that a hung source cannot hold the report hostage.

use std::time::{Duration, Instant};

use crate::error::ProbeError;

/// An absolute deadline. Copyable so it can be handed to helper threads.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }

    /// The time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The whole budget this deadline was created with.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// A tighter deadline for one source within a probe: `fraction` of the
    /// time left, so a slow source leaves time for the others.
    pub fn share(&self, fraction: f64) -> Deadline {
        let part = self.remaining().mul_f64(fraction.clamp(0.0, 1.0));
        Deadline {
            at: Instant::now() + part,
            budget: part,
        }
    }

    /// `Err(timeout)` once the deadline has passed.
    pub fn check(&self) -> Result<(), ProbeError> {
        if self.expired() {
            Err(ProbeError::timeout(format!(
                "probe exceeded its time limit of {} ms",
                self.budget.as_millis()
            )))
        } else {
            Ok(())
        }
    }

    /// Sleeps for `wanted`, or less if the deadline comes first.
    pub fn sleep(&self, wanted: Duration) {
        let d = wanted.min(self.remaining());
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}
