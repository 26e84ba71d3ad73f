//! The crate's error type. Every message names what is wrong and where (file, byte offset).

use std::path::PathBuf;

use crate::pretok::PretokError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that must be UTF-8 text is not.
    #[error("{}: invalid UTF-8 at byte offset {offset} (pass errors=\"replace\" / --errors replace to substitute U+FFFD)", path.display())]
    Utf8 { path: PathBuf, offset: u64 },
    /// A tokenizer file is malformed or uses a feature bytepair does not support.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// An argument is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Pretok(#[from] PretokError),
    /// The work was stopped (e.g. Ctrl-C from the caller).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: msg.into(),
        }
    }
}
