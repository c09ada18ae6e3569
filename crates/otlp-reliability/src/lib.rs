//! Tower layers that make an OTLP exporter reliable: retry with backoff,
//! per-attempt timeout, circuit breaker, bounded backpressure queue,
//! concurrency limit and failover.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod error;
mod failover;
mod queue;
mod retry;
#[cfg(test)]
mod testing;
mod timeout;

pub use breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerSnapshot, BreakerState, CircuitBreaker,
    CircuitBreakerLayer,
};
pub use error::{AttemptTimedOut, BreakerOpen, Cause, ConfigError, RetriesExhausted};
pub use failover::{EndpointHealth, Failover, FailoverBuilder, FailoverMonitor};
pub use queue::{DropCounts, DropReason, Queue, QueueBuilder, QueueError, QueueSnapshot, WhenFull};
pub use retry::{
    Backoff, Retry, RetryLayer, RetryPolicy, RetryPolicyBuilder, RetrySnapshot, RetryStats,
};
pub use timeout::{Timeout, TimeoutLayer};
