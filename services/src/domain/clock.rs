//! Time, injected so tests can fix it and no domain code reads the clock ad hoc.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of "now" in microseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock that reads `micros` until moved (tests).
    pub fn fixed(micros: i64) -> Self {
        Self {
            fixed: Some(Arc::new(AtomicI64::new(micros))),
        }
    }

    /// Moves a fixed clock; no effect on the system clock.
    pub fn advance(&self, micros: i64) {
        if let Some(fixed) = &self.fixed {
            fixed.fetch_add(micros, Ordering::SeqCst);
        }
    }

    /// Now, in microseconds since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        match &self.fixed {
            Some(fixed) => fixed.load(Ordering::SeqCst),
            None => chrono::Utc::now().timestamp_micros(),
        }
    }
}
