//! Eppo: Universal Flag Configuration → compiled snapshot → typed assignments, with
//! evaluation details, assignment events and the C-ABI client.
//!
//! - [`model`]: the UFC as served (serde);
//! - [`compile`]: the immutable compiled [`compile::Snapshot`] (plain and obfuscated formats);
//! - [`attributes`]: the fast lane's subject attributes, borrowed from the caller's input;
//! - [`evaluate`]: assignment (the pure Rust API: [`evaluate::assign`]);
//! - [`details`]: the evaluation-details document;
//! - [`events`]: assignment events and their deduplication cache;
//! - [`request`]: the `allot_evaluate` request;
//! - [`config`]: the `allot_init` configuration;
//! - [`client`]: the [`crate::client::Provider`] behind an `allot_init` handle;
//! - [`sync`]: keeping the configuration current (polling);
//! - [`time`]: RFC 3339 parsing and formatting;
//! - [`bandit`]: contextual bandits (models, action selection, bandit events).
//!
//! # C ABI shapes
//!
//! `allot_init`: `{"provider": "eppo", "api_key": "…", "base_url"?: "https://…",
//! "poll_interval_seconds"?: 30 | null, "poll_jitter_seconds"?: 3,
//! "initial_configuration"?: <UFC object or its JSON text>, "configuration_path"?: "<file>",
//! "assignment_cache"?: {"capacity": N, "ttl_seconds"?: N}}`. Unknown fields, a bad UFC
//! document or both configuration sources are `invalid_config`; a single bad flag is only
//! listed in `flag_errors` and evaluates to the default (`UNEXPECTED_CONFIGURATION_ERROR`).
//!
//! `allot_start`: starts the poller (`GET {base_url}/flag-config/v1/config?apiKey=…&sdkName=allot
//! &sdkVersion=…` at once, then every `poll_interval_seconds` minus up to
//! `poll_jitter_seconds`; once when the interval is null; never again after a 401) and
//! returns the status. With `initial_configuration` / `configuration_path` it returns at
//! once; without, it waits up to its timeout for the first fetch (`timeout`, or the first
//! fetch's error: `network`, `http_status`, `unauthorized`, `invalid_response`).
//!
//! `allot_evaluate` (after `allot_start`, else `not_started`): `{"flag_key", "subject_key",
//! "subject_attributes"?: {…}, "variation_type": "STRING"|"INTEGER"|"NUMERIC"|"BOOLEAN"|"JSON",
//! "default": <value of that type>, "details"?: false, "now"?: "<RFC 3339>"}` →
//! `{"value", "variation_key": …|null, "code": "<flagEvaluationCode>", "allocation_key":
//! …|null, "events": [<assignment event>], "details"?: {…}}`. `variation_key` and
//! `allocation_key` are set only when `code` is `MATCH`. A batch `{"assignments": [<request>,
//! …], <any request field>}` (top-level fields are inherited by items that omit them) →
//! `{"assignments": [<result>, …]}`. Malformed requests are `invalid_json` /
//! `invalid_argument` errors. A request with `actions` is a bandit request (see
//! [`bandit::request`]); `allot_init` also takes `initial_bandits` / `bandits_path`.
//!
//! Assignment event: `{"featureFlag", "allocation", "experiment": "<flag>-<allocation>",
//! "variation", "subject", "subjectAttributes", "timestamp", "metaData": {"sdkName": "allot",
//! "sdkVersion", "coreVersion"}, …extraLogging}` (extraLogging keys that would shadow these
//! fields are dropped). `allot_status`: the local status document of every provider (see
//! `allot_status` in `src/ffi.rs`) with `"provider": "eppo"`, plus `"environment"` and
//! `"published_at"` (the configuration's `createdAt`, ms since the epoch). See
//! `docs/eppo.md`.

pub mod attributes;
pub mod bandit;
pub mod client;
pub mod compile;
pub mod config;
pub mod details;
pub mod evaluate;
pub mod events;
pub mod model;
pub mod request;
pub mod sync;
pub mod time;
