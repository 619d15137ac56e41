//! A few read connections to the store, reused across requests, used on blocking threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use ctm_store::{OpenOptions, Store};

use crate::error::ApiError;

/// Connections kept for reuse; more may be open at once under load, and are closed after.
const KEPT: usize = 8;

pub(crate) struct Reader {
    path: PathBuf,
    options: OpenOptions,
    idle: Mutex<Vec<Store>>,
}

impl Reader {
    /// Opens the store once (creating and migrating it if needed), and keeps that
    /// connection for the first request.
    pub fn open(path: &Path, options: OpenOptions) -> Result<Reader> {
        let store = Store::open(path, &options)?;
        Ok(Reader {
            path: path.to_path_buf(),
            options,
            idle: Mutex::new(vec![store]),
        })
    }

    /// Runs `f` with a connection, on the calling (blocking) thread.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut store = match taken {
            Some(s) => s,
            None => Store::open(&self.path, &self.options).map_err(ApiError::from_store)?,
        };
        let out = f(&mut store);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEPT {
            idle.push(store);
        }
        out
    }
}
