//! [proptest] strategies that generate every OTLP message with every field
//! populated across its range.
//!
//! Each message has a function named after its path in snake case, in a module
//! named after its package as this crate re-exports it: `trace::v1::span`,
//! `trace::v1::span_event`, `collector::trace::v1::export_trace_service_request`.
//! The `depth` argument bounds nesting (the recursive `AnyValue` needs it);
//! [`DEPTH`] reaches every field of every export request.
//!
//! Floating-point fields never hold NaN, which is not equal to itself and so
//! cannot be compared after a round trip; test NaN by hand.
//!
//! ```
//! use otlp_proto::strategy::{collector, DEPTH};
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::deterministic();
//! let request = collector::trace::v1::export_trace_service_request(DEPTH)
//!     .new_tree(&mut runner)
//!     .unwrap()
//!     .current();
//! # let _ = request;
//! ```
//!
//! [proptest]: https://docs.rs/proptest

/// A nesting depth that reaches the deepest field of every export request.
pub const DEPTH: u32 = 10;

include!("generated/strategy.rs");
