//! Rebuilds the crate when a file under `web/static/` is added, removed or
//! changed: the files are embedded in the binary, and the compiler only tracks
//! the files it embedded last time.

fn main() {
    println!("cargo:rerun-if-changed=../web/static");
    println!("cargo:rerun-if-changed=build.rs");
}
