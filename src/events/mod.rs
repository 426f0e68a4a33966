//! Analytics events: a provider-independent background sender (batches, retries, a
//! bounded queue). Providers build the events; the sender delivers them.

pub mod sender;
