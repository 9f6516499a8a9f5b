//! Qicoo's API tests: the real application on port 0, against both event stores
//! (a temporary SQLite file and a freshly created Postgres database per test).
//! One test binary with modules, to link once.

mod support;

mod audit;
mod authz;
mod bench_smoke;
mod concurrency;
mod errors;
mod export;
mod flows;
mod handover;
mod healthcheck;
mod kill_safety;
mod live;
mod live_abuse;
mod openapi;
mod organizer_live;
mod outages;
mod proxy;
mod rate_limits;
mod readiness;
mod reads;
mod roles;
mod slow_clients;
mod web;
