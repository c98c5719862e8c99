//! The demo's throw-away state: a private directory that goes away with the demo.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// A private temporary directory, deleted when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn create() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("tokenmint-demo-{}", uuid::Uuid::now_v7().simple()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
