//! The handle registry: opaque `u64` ids for clients, so that a stale, unknown or zero
//! handle is an error instead of a use-after-free.
//!
//! Lookups are lock-free (an `ArcSwap` of an immutable map). `insert` and `remove` copy
//! the map and publish it with a compare-and-swap loop: there is no lock at all, so a
//! child process forked while another thread was registering a client cannot deadlock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use arc_swap::ArcSwap;

use crate::client::Client;
use crate::error::{Error, ErrorCode, Result};

/// Ordered: a lookup among the few handles of a process is a handful of integer
/// comparisons, cheaper than hashing the handle.
type Map = BTreeMap<u64, Client>;

static CLIENTS: LazyLock<ArcSwap<Map>> = LazyLock::new(|| ArcSwap::from_pointee(Map::new()));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Registers a client and returns its new, never reused, non-zero handle.
pub fn insert(client: Client) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CLIENTS.rcu(|current| {
        let mut map = Map::clone(current);
        map.insert(id, client.clone());
        map
    });
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
/// handles give `None`; of two threads removing the same handle, one gets the client.
pub fn remove(handle: u64) -> Option<Client> {
    if !CLIENTS.load().contains_key(&handle) {
        return None;
    }
    // `rcu` returns the map its successful swap replaced: the client is taken from
    // exactly the version this call removed it from.
    let replaced = CLIENTS.rcu(|current| {
        let mut map = Map::clone(current);
        map.remove(&handle);
        map
    });
    replaced.get(&handle).cloned()
}
