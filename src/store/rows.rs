//! Row structs shared by both backends, and their conversion to domain types. Both dialects
//! store the same column types (text, bytes, 64-bit integers), so one struct serves both.

use chrono::{DateTime, Utc};

use crate::domain::keys::{SigningAlgorithm, SigningKeyRecord};
use crate::domain::ports::StoreError;

/// A unix-seconds column as a time.
pub(crate) fn time(seconds: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {seconds} is out of range")))
}

/// An optional unix-seconds column as a time.
pub(crate) fn optional_time(seconds: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    seconds.map(time).transpose()
}

/// One row of `signing_keys`.
#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key_sealed: Vec<u8>,
    pub created_at: i64,
    pub activates_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(row: SigningKeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            algorithm: row.alg.parse::<SigningAlgorithm>().map_err(|_| {
                StoreError::Corrupt(format!("key {} has algorithm {:?}", row.kid, row.alg))
            })?,
            state: row.state.parse()?,
            created_at: time(row.created_at)?,
            activates_at: optional_time(row.activates_at)?,
            retired_at: optional_time(row.retired_at)?,
            publish_until: optional_time(row.publish_until)?,
            kid: row.kid,
            public_jwk: row.public_jwk,
            private_key_sealed: row.private_key_sealed,
        })
    }
}

/// Rows into domain records, failing on the first bad one.
pub(crate) fn records<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}
