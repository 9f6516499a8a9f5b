//! Integration tests of the read side, compiled as one binary. Each test makes
//! its own stores (a temporary SQLite file, a fresh Postgres and MariaDB
//! database, a fresh Redis prefix), so they run in parallel; the scaled-out
//! cases are skipped with a message when a service is down, except under
//! `CI=true`. A test that holds for both adapter sets is declared once per
//! set, as `…::embedded` and `…::scaled` (see `support::per_adapter_set!`), so
//! a failure names the adapters that broke.

#![allow(clippy::unwrap_used)]

mod archive;
mod changes;
mod crash;
mod feed;
mod fold;
mod leaderboard;
mod queries;
mod readmodel;
mod rebuild;
mod replay;
mod runner;
mod support;
