//! Why a probe produced no data: one typed error that serialises straight
//! into the `error` object of the report.

use serde::Serialize;

/// The class of a probe failure, serialised in snake_case as `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Every source the probe needs is missing on this node (no crictl, no
    /// `/proc/meminfo`, ...). Partial absence is reported inside `data`.
    Unavailable,
    /// The probe did not finish within its `timeout_ms`.
    Timeout,
    /// A source was there but answered with an error or something we could
    /// not understand.
    Failed,
    /// The probe name is not in the catalogue.
    UnknownProbe,
    /// An `--arg` for this probe is unknown or has a bad value.
    BadArgument,
}

/// A structured probe failure: `{"kind": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ProbeError {
    /// What class of failure this is.
    pub kind: ErrorKind,
    /// A lowercase, human-readable explanation naming the source.
    pub message: String,
}

impl ProbeError {
    /// Builds an error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Shorthand for [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// Shorthand for [`ErrorKind::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// Shorthand for [`ErrorKind::BadArgument`].
    pub fn bad_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadArgument, message)
    }

    /// Shorthand for [`ErrorKind::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
}
