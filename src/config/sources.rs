//! Where settings come from: built-in defaults, an optional TOML file, the environment, and
//! files named by `*_FILE` variables (Docker secrets). Values leave here as text; [`super::values`]
//! parses them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

use super::error::ConfigError;
use super::names::{DEFAULT_CONFIG_FILE, VARIABLES};
use super::values::{DurationRange, parse_duration};

/// The raw, merged settings before validation: text (or a TOML scalar or list) per key.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConfig(BTreeMap<String, RawValue>);

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl RawValue {
    fn into_text(self) -> String {
        match self {
            RawValue::Text(text) => text,
            RawValue::Integer(n) => n.to_string(),
            RawValue::Float(n) => n.to_string(),
            RawValue::Bool(b) => b.to_string(),
            RawValue::List(items) => items.join(","),
        }
    }
}

/// The merged settings, consumed one variable at a time.
pub(super) struct Settings(BTreeMap<String, RawValue>);

impl Settings {
    pub(super) fn new(raw: RawConfig) -> Self {
        Self(raw.0)
    }

    pub(super) fn optional(&mut self, variable: &'static str) -> Option<String> {
        self.0
            .remove(&variable.to_ascii_lowercase())
            .map(RawValue::into_text)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    pub(super) fn parse<T>(
        &mut self,
        variable: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self
            .optional(variable)
            .unwrap_or_else(|| default.to_owned());
        parse(&value).map_err(|problem| ConfigError::Invalid {
            variable,
            problem: format!("{value:?} is not valid: {problem}"),
        })
    }

    /// A duration within `range` (see [`DurationRange`]).
    pub(super) fn duration(
        &mut self,
        variable: &'static str,
        default: &str,
        range: DurationRange,
    ) -> Result<Duration, ConfigError> {
        self.parse(variable, default, |v| range.check(parse_duration(v)?))
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE` (Docker secrets), never both.
    pub(super) fn secret(
        &mut self,
        variable: &'static str,
    ) -> Result<Option<SecretString>, ConfigError> {
        let file_variable = file_variable_of(variable);
        match (self.optional(variable), self.optional(file_variable)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                variable,
                problem: format!("set either {variable} or {file_variable}, not both"),
            }),
            (Some(value), None) => Ok(Some(SecretString::from(value))),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(value) if !value.trim().is_empty() => {
                    Ok(Some(SecretString::from(value.trim().to_owned())))
                }
                Ok(_) => Err(ConfigError::Invalid {
                    variable: file_variable,
                    problem: format!("the file {path} is empty"),
                }),
                Err(err) => Err(ConfigError::Invalid {
                    variable: file_variable,
                    problem: format!("cannot read {path}: {err}"),
                }),
            },
            (None, None) => Ok(None),
        }
    }
}

fn file_variable_of(variable: &'static str) -> &'static str {
    match variable {
        "DATABASE_URL" => "DATABASE_URL_FILE",
        "TOKENMINT_KEK" => "TOKENMINT_KEK_FILE",
        "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD" => "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD_FILE",
        "APPWRITE_API_KEY" => "APPWRITE_API_KEY_FILE",
        _ => "TOKENMINT_APPWRITE_WEBHOOK_KEY_FILE",
    }
}

/// The explicit file, or `tokenmint.toml` when it exists in the working directory.
pub(super) fn resolve_config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    match explicit {
        Some(path) => Ok(Some(path.to_path_buf())),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            Ok(default.is_file().then_some(default))
        }
    }
}

/// Rejects unknown keys, so a typo in the file is reported rather than silently ignored.
pub(super) fn check_file_keys(path: &Path) -> Result<(), ConfigError> {
    let keys: BTreeMap<String, figment::value::Value> = Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|err| ConfigError::File {
            path: path.to_path_buf(),
            problem: err.to_string(),
        })?;
    for key in keys.keys() {
        if !VARIABLES.iter().any(|v| v.eq_ignore_ascii_case(key)) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                problem: format!(
                    "unknown key `{key}`; keys are the environment variable names in lower case, \
                     e.g. `tokenmint_issuer`"
                ),
            });
        }
        if key.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                problem: format!("write `{}` in lower case", key.to_ascii_lowercase()),
            });
        }
    }
    Ok(())
}

pub(super) fn default_log_format() -> &'static str {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        "pretty"
    } else {
        "json"
    }
}
