//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!`
//! embeds the migration folders at compile time, and cargo does not otherwise
//! notice new files in them.

fn main() {
    for dir in [
        "../migrations/eventstore/postgres",
        "../migrations/eventstore/sqlite",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
