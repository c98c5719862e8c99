//! Configuration: built-in defaults, then an optional `tokenmint.toml`, then the environment.
//!
//! Every setting has one name, the environment variable of the design's table. The TOML file
//! uses the same names in lower case (`tokenmint_issuer = "https://auth.example.com"`), so
//! there is nothing new to learn; an unknown key in the file is an error, not a silent no-op.
//! An empty environment variable counts as unset (Docker env files often carry `NAME=`).
//!
//! Values are read as text and validated here, so every error names the variable it is about
//! and says what would be accepted. Every duration and number has a documented range (see
//! [`values`]): a value that parses but could never work — a session lifetime of 300,000
//! years overflows every date — stops start-up instead of failing requests later. Secrets are
//! [`SecretString`]s: `Debug` never prints them, and no error message repeats a secret's value.
//!
//! - `model`: the [`Config`]; `load`: how it is assembled; `kinds`: the choices and the
//!   database URL; `names`: every variable's name; `error`: the [`ConfigError`];
//! - `sources`: reading defaults, the TOML file and the environment (`*_FILE` secrets);
//! - [`values`]: parsing and range-checking each kind of value; [`limits`]: the rate limits
//!   and trusted proxies.

mod error;
mod kinds;
pub mod limits;
mod load;
mod model;
mod names;
mod sources;
pub mod values;

#[cfg(test)]
mod source_tests;
#[cfg(test)]
mod tests;

pub use self::error::ConfigError;
pub use self::kinds::{DatabaseUrl, LogFormat, SqliteSync};
pub use self::limits::{ClientIpHeader, Rate, RateLimitSettings};
pub use self::model::Config;
pub use self::names::{DEFAULT_CONFIG_FILE, SNAPSHOT_CLAIMS, VARIABLES};
pub use self::values::parse_duration;
