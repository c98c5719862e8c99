//! The throw-away database of a run: a SQLite file in a temporary directory, or a fresh
//! PostgreSQL database created through the admin URL and dropped at the end.

use std::path::Path;

use anyhow::Context;
use sqlx::Connection;

use crate::cli::DatabaseKind;

/// A database for one run, with a temporary directory the server runs in.
pub struct BenchDatabase {
    /// `DATABASE_URL` for the server.
    pub url: String,
    /// Which kind it is.
    pub kind: DatabaseKind,
    /// The PostgreSQL database's name and the admin URL it was created through.
    postgres: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl BenchDatabase {
    /// Creates the database: `sqlite://<temp dir>/tokenmint.db` (the server creates the file),
    /// or `tokenmint_bench_<uuid v7>` on the PostgreSQL server of `admin_url`.
    ///
    /// # Errors
    /// When the temporary directory or the PostgreSQL database cannot be created.
    pub async fn create(kind: DatabaseKind, admin_url: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tokenmint-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        match kind {
            DatabaseKind::Sqlite => Ok(Self {
                url: format!("sqlite://{}", dir.path().join("tokenmint.db").display()),
                kind,
                postgres: None,
                dir,
            }),
            DatabaseKind::Postgres => {
                let name = format!("tokenmint_bench_{}", uuid::Uuid::now_v7().simple());
                let url = create_postgres(admin_url, &name).await?;
                Ok(Self {
                    url,
                    kind,
                    postgres: Some((name, admin_url.to_owned())),
                    dir,
                })
            }
        }
    }

    /// The temporary directory (the server's working directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL database's name, if there is one.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(name, _)| name.as_str())
    }

    /// Drops the PostgreSQL database (unless `keep`) and removes the temporary directory.
    /// Call it after the server has stopped.
    ///
    /// # Errors
    /// When the PostgreSQL database cannot be dropped.
    pub async fn remove(self, keep: bool) -> anyhow::Result<()> {
        if let Some((name, admin_url)) = &self.postgres
            && !keep
        {
            let mut admin = connect(admin_url).await?;
            // The name was generated from a UUID above: nothing user-controlled reaches this SQL.
            let drop = format!("drop database if exists {name} with (force)");
            sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await
                .with_context(|| format!("dropping the database {name}"))?;
            admin.close().await.ok();
        }
        Ok(())
    }
}

/// Creates the database `name` and returns its URL (the admin URL with the path replaced).
async fn create_postgres(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url).context("--postgres-admin-url is not a URL")?;
    let mut admin = connect(admin_url).await?;
    // The name was generated from a UUID: nothing user-controlled reaches this SQL.
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating the database {name}"))?;
    admin.close().await.ok();
    url.set_path(name);
    Ok(url.to_string())
}

async fn connect(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redacted(admin_url)))
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "the given URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(
            redacted("postgres://bench:secret@127.0.0.1:5432/postgres"),
            "postgres://bench:***@127.0.0.1:5432/postgres"
        );
        assert_eq!(redacted("not a url"), "the given URL");
    }
}
