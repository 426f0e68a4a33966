//! Analytics events: a provider-independent background sender (batches, retries, a
//! bounded queue) and the delivery reports of its events. Providers build the events; the
//! sender delivers them.

pub mod reports;
pub mod sender;
