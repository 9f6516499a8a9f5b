//! Integration tests of the read side, compiled as one binary. Each test makes
//! its own stores (a temporary SQLite file, a fresh Postgres and MariaDB
//! database, a fresh Redis prefix), so they run in parallel; the scaled-out
//! cases are skipped with a message when a service is down, except under
//! `CI=true`.

#![allow(clippy::unwrap_used)]

mod changes;
mod crash;
mod feed;
mod fold;
mod leaderboard;
mod queries;
mod replay;
mod runner;
mod support;
