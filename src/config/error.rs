//! The one error of configuration, naming the variable (or file) at fault.

use std::path::PathBuf;

/// A configuration problem, naming the variable it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value tokenmint cannot use.
    #[error("{variable}: {problem}")]
    Invalid {
        /// The environment variable (or its lower-case TOML key) at fault.
        variable: &'static str,
        /// What is wrong and what would be accepted.
        problem: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("configuration file {path}: {problem}")]
    File {
        /// The file's path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}
