//! Regular expressions of flag conditions (Amplitude `regex match`, Eppo `MATCHES`), with
//! bounded cost: each pattern's compiled size is capped, so is the total of one
//! configuration, and values longer than [`MAX_MATCH_INPUT_BYTES`] are not searched.
//!
//! Semantics are those of the `regex` crate (Unicode, search anywhere in the value); the
//! engine is the one behind it (`regex_automata::meta`), used directly because it reports
//! each pattern's memory use.

use std::collections::HashMap;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::MatchKind;

/// Largest compiled size of one pattern, in bytes (1 MiB; `\w{17}` fits, `\w{100}`,
/// 5.6 MB with Unicode word characters, does not).
pub const MAX_PATTERN_BYTES: usize = 1 << 20;
/// Largest total compiled size of the distinct patterns of one configuration (16 MiB). A
/// pattern refused for its size counts the size it was allowed to reach (compiling it
/// that far took the time), so the time to compile a configuration's patterns is bounded
/// too.
pub const MAX_CONFIG_PATTERN_BYTES: usize = 16 << 20;
/// Largest lazy-DFA cache of one pattern, per evaluating thread, grown only as matches
/// need it (2 MiB, the `regex` crate's default).
const MAX_CACHE_BYTES: usize = 2 << 20;
/// Values longer than this (in bytes, 8 KiB) match no pattern: matching costs time in
/// proportion to the value's length times the pattern's size.
pub const MAX_MATCH_INPUT_BYTES: usize = 8 << 10;

/// A compiled pattern, shared by the conditions that use it.
#[derive(Debug, Clone)]
pub struct Pattern(Arc<Regex>);

impl Pattern {
    /// Whether the pattern matches anywhere in `text`; always false for a value longer
    /// than [`MAX_MATCH_INPUT_BYTES`].
    pub fn is_match(&self, text: &str) -> bool {
        text.len() <= MAX_MATCH_INPUT_BYTES && self.0.is_match(text)
    }
}

/// The patterns of one configuration being compiled: each distinct pattern compiled
/// once, and the configuration's remaining size budget.
#[derive(Debug)]
pub struct Patterns {
    compiled: HashMap<String, Compiled>,
    remaining: usize,
}

/// What compiling a pattern gave.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// A usable pattern.
    Usable(Pattern),
    /// Not a pattern the `regex` syntax accepts (look-around, backreferences, bad
    /// syntax), with the reason: it never matches, as documented for both providers.
    Unsupported(String),
    /// Over [`MAX_PATTERN_BYTES`] or the configuration's remaining budget, with a
    /// message: the flag that uses it is rejected.
    TooBig(String),
}

impl Default for Patterns {
    fn default() -> Self {
        Patterns {
            compiled: HashMap::new(),
            remaining: MAX_CONFIG_PATTERN_BYTES,
        }
    }
}

impl Patterns {
    /// Compiles `pattern`, once per configuration.
    pub fn compile(&mut self, pattern: &str) -> Compiled {
        if let Some(compiled) = self.compiled.get(pattern) {
            return compiled.clone();
        }
        let limit = MAX_PATTERN_BYTES.min(self.remaining);
        if limit == 0 {
            return Compiled::TooBig(self.too_big(pattern));
        }
        let config = meta::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(true)
            .nfa_size_limit(Some(limit))
            .hybrid_cache_capacity(MAX_CACHE_BYTES);
        let built = meta::Builder::new()
            .configure(config)
            .syntax(syntax::Config::new().utf8(true))
            .build(pattern);
        let compiled = match built {
            Ok(regex) if regex.memory_usage() <= self.remaining => {
                self.remaining -= regex.memory_usage();
                Compiled::Usable(Pattern(Arc::new(regex)))
            }
            Err(e) if e.size_limit().is_none() => Compiled::Unsupported(unsupported_reason(&e)),
            // Too large for this pattern's cap or for what is left of the budget.
            _ => {
                let message = self.too_big(pattern);
                self.remaining -= limit;
                Compiled::TooBig(message)
            }
        };
        self.compiled.insert(pattern.to_owned(), compiled.clone());
        compiled
    }

    /// A pattern compiled earlier by [`Patterns::compile`]; `None` when it was invalid,
    /// too large, or never compiled.
    pub fn get(&self, pattern: &str) -> Option<Pattern> {
        match self.compiled.get(pattern)? {
            Compiled::Usable(pattern) => Some(pattern.clone()),
            Compiled::Unsupported(_) | Compiled::TooBig(_) => None,
        }
    }

    fn too_big(&self, pattern: &str) -> String {
        let shown: String = pattern.chars().take(64).collect();
        if self.remaining < MAX_PATTERN_BYTES {
            format!(
                "regex \"{shown}\" does not fit in what is left of the configuration's \
                 {MAX_CONFIG_PATTERN_BYTES}-byte budget for compiled patterns"
            )
        } else {
            format!(
                "regex \"{shown}\" compiles to more than {MAX_PATTERN_BYTES} bytes; simplify it"
            )
        }
    }
}

/// Why the syntax rejects a pattern: the last line of the parser's message (which points
/// at the pattern above it), such as "look-around, including look-ahead and look-behind,
/// is not supported".
fn unsupported_reason(error: &meta::BuildError) -> String {
    let message = match error.syntax_error() {
        Some(syntax) => syntax.to_string(),
        None => error.to_string(),
    };
    let last = message.lines().last().unwrap_or_default();
    last.trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(compiled: Compiled) -> Pattern {
        match compiled {
            Compiled::Usable(pattern) => pattern,
            other => panic!("expected a usable pattern, got {other:?}"),
        }
    }

    fn unsupported(compiled: Compiled) -> String {
        match compiled {
            Compiled::Unsupported(reason) => reason,
            other => panic!("expected an unsupported pattern, got {other:?}"),
        }
    }

    fn too_big(compiled: Compiled) -> String {
        match compiled {
            Compiled::TooBig(message) => message,
            other => panic!("expected a refused pattern, got {other:?}"),
        }
    }

    #[test]
    fn compiles_valid_patterns_and_searches_anywhere() {
        let mut patterns = Patterns::default();
        let pattern = usable(patterns.compile(r"^\w+@example\.com$"));
        assert!(pattern.is_match("ana_1@example.com"));
        assert!(!pattern.is_match("ana@example.org"));
        let anywhere = usable(patterns.compile("b+"));
        assert!(anywhere.is_match("abbbc"));
    }

    #[test]
    fn invalid_patterns_never_match_and_huge_ones_are_refused() {
        let mut patterns = Patterns::default();
        let reason = unsupported(patterns.compile("(?=a)a"));
        assert!(reason.contains("look-around"), "{reason}");
        assert!(patterns.get("(?=a)a").is_none());
        let message = too_big(patterns.compile(r"\w{100}"));
        assert!(message.contains("compiles to more than"), "{message}");
    }

    #[test]
    fn the_configuration_budget_runs_out() {
        let mut patterns = Patterns::default();
        let refused = (0..10_000)
            .map(|i| patterns.compile(&format!(r"\w{{5}}{i}")))
            .position(|compiled| matches!(compiled, Compiled::TooBig(_)))
            .expect("the budget must run out");
        assert!(refused > 10, "only {refused} patterns fit");
        assert!(patterns.remaining < MAX_PATTERN_BYTES);
    }

    #[test]
    fn refused_patterns_use_up_the_budget() {
        let mut patterns = Patterns::default();
        for i in 0..(MAX_CONFIG_PATTERN_BYTES / MAX_PATTERN_BYTES) {
            let message = too_big(patterns.compile(&format!(r"\w{{100}}{i}")));
            assert!(message.contains("compiles to more than"), "{message}");
        }
        let message = too_big(patterns.compile("a"));
        assert!(message.contains("budget"), "{message}");
    }

    #[test]
    fn long_values_match_nothing() {
        let mut patterns = Patterns::default();
        let pattern = usable(patterns.compile("a"));
        assert!(pattern.is_match(&"a".repeat(MAX_MATCH_INPUT_BYTES)));
        assert!(!pattern.is_match(&"a".repeat(MAX_MATCH_INPUT_BYTES + 1)));
    }
}
