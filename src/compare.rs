//! What both providers' conditions share: ordering comparisons and number parsing.

use std::cmp::Ordering;

/// An ordering comparison of a value against a configured operand (Amplitude `less`,
/// `greater or equal`, ...; Eppo `LT`, `GTE`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`.
    Less,
    /// `<=`.
    LessOrEqual,
    /// `>`.
    Greater,
    /// `>=`.
    GreaterOrEqual,
}

impl Comparison {
    /// Whether `value.cmp(operand) == ordering` satisfies the comparison.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Less => ordering == Ordering::Less,
            Comparison::LessOrEqual => ordering != Ordering::Greater,
            Comparison::Greater => ordering == Ordering::Greater,
            Comparison::GreaterOrEqual => ordering != Ordering::Less,
        }
    }
}

/// A finite number parsed from text, or nothing.
pub fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}
