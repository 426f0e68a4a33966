//! The handle registry: opaque `u64` ids for clients, so that a stale, unknown or zero
//! handle is an error instead of a use-after-free.
//!
//! Lookups are lock-free (an `ArcSwap` of an immutable map); only `insert` and `remove`,
//! which copy the map, serialize on a mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::client::Client;
use crate::error::{Error, ErrorCode, Result};

type Map = HashMap<u64, Client>;

static CLIENTS: LazyLock<ArcSwap<Map>> = LazyLock::new(|| ArcSwap::from_pointee(Map::new()));
static WRITER: Mutex<()> = parking_lot::const_mutex(());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Registers a client and returns its new, never reused, non-zero handle.
pub fn insert(client: Client) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let _writer = WRITER.lock();
    let mut map = Map::clone(&CLIENTS.load());
    map.insert(id, client);
    CLIENTS.store(Arc::new(map));
    id
}

/// Returns the client behind `handle`, or an `unknown_handle` error.
pub fn get(handle: u64) -> Result<Client> {
    CLIENTS.load().get(&handle).cloned().ok_or_else(|| {
        Error::new(
            ErrorCode::UnknownHandle,
            format!("handle {handle} is zero, unknown or already freed"),
        )
    })
}

/// Removes a client; returns it so the caller decides where it is dropped. Unknown
/// handles give `None`.
pub fn remove(handle: u64) -> Option<Client> {
    let _writer = WRITER.lock();
    let current = CLIENTS.load();
    if !current.contains_key(&handle) {
        return None;
    }
    let mut map = Map::clone(&current);
    let client = map.remove(&handle);
    CLIENTS.store(Arc::new(map));
    client
}
