//! Eppo contextual bandits: a flag variation that hands over to a bandit, which chooses
//! one of the caller's actions from the subject's and the actions' attributes.
//!
//! - [`model`]: the bandit links of the UFC document and the bandit models document (serde);
//! - [`config`]: the bandit models given to `allot_init`;
//! - [`compile`]: [`compile::BanditLinks`] and [`compile::BanditModels`], held by the
//!   [`crate::eppo::compile::Snapshot`] so that flags and models are swapped together;
//! - [`evaluate`]: the pure evaluation ([`evaluate::bandit_action`]);
//! - [`events`]: the bandit event;
//! - [`request`]: the bandit request of `allot_evaluate` and its result;
//! - [`sync`]: fetching the models with the flags when the referenced versions change.

pub mod compile;
pub mod config;
pub mod evaluate;
pub mod events;
pub mod model;
pub mod request;
pub mod sync;
