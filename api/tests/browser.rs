//! The browser tests: Playwright (from npm, pinned by `web/e2e/package-lock.json`)
//! drives the system's Chromium through the scenarios of `web/e2e/tests/`, each
//! against a `qicoo` it starts itself from the binary cargo just built. Run as
//! part of `cargo test`: this installs the npm packages when they are missing or
//! older than the lock file (`npm ci`), then runs `npx playwright test` with its
//! output streamed. Without Node, npm or Chromium it says so and passes, except
//! under `CI=true`, where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/e2e")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `program` runs (`program --version` exits 0).
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Chromium as the Playwright config finds it: `CHROMIUM_PATH`, or `chromium`
/// on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// npm's record of what it installed, which it writes after the install: the
/// packages are current when it is newer than the lock file.
fn packages_current(dir: &Path) -> bool {
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    }
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

#[test]
fn the_browser_scenarios_pass_in_chromium() {
    let missing: Vec<&str> = [
        ("node", runs("node")),
        ("npm", runs("npm")),
        ("npx", runs("npx")),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(name, _)| name)
    .chain(chromium().is_none().then_some("chromium"))
    .collect();
    if !missing.is_empty() {
        let message = format!(
            "browser tests need {} (apt-get install nodejs npm chromium)",
            missing.join(", ")
        );
        assert!(!in_ci(), "{message}");
        // Straight to stderr, past the test harness's capture: a skip is seen.
        let _ = writeln!(std::io::stderr(), "skipped: {message}");
        return;
    }
    let dir = e2e_dir();
    if !packages_current(&dir) {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
            "npm ci in web/e2e",
        );
    }
    run(
        Command::new("npx")
            .args(["--no-install", "playwright", "test"])
            .current_dir(&dir)
            .env("QICOO_BIN", env!("CARGO_BIN_EXE_qicoo"))
            // Never a browser download: the system's Chromium is used.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
        "npx playwright test",
    );
}
