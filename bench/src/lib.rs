//! `qicoo-bench`: a load generator that drives a running Qicoo over HTTP and
//! WebSocket, and the report that puts every figure beside a baseline.
//!
//! Each scenario is a function of this library so that the smoke test
//! (`api/tests/api/bench_smoke.rs`) runs the same code as `bench/run`, with
//! tiny numbers.

pub mod api;
pub mod export;
pub mod fixture;
pub mod flood;
pub mod hot;
pub mod likes;
pub mod live;
pub mod report;
pub mod sections;
pub mod smoke;
pub mod soak;
pub mod stats;

/// Any failure of a scenario: the run stops and says why.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The result type of the scenarios.
pub type Result<T> = std::result::Result<T, BoxError>;
