//! The browser interface as a browser gets it: the page routes answer the HTML
//! shell (404 with a not-found status for unknown codes), every file of
//! `web/static/` is served as it is on disk with its content type, ETag and
//! compression, every response has the security headers, and the QR code
//! encodes the attendee URL.

use std::path::{Path, PathBuf};

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    HOST, IF_NONE_MATCH,
};
use reqwest::{Response, StatusCode};

use crate::support::{spawn_app, spawn_app_with, Store, TestApp};

/// The server's origin (the app's `base` is its API).
fn origin(app: &TestApp) -> String {
    app.base.trim_end_matches("/api/v1").to_owned()
}

/// A client that shows responses as they come, compressed or not.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .expect("client")
}

async fn get(app: &TestApp, path: &str) -> Response {
    raw_client()
        .get(format!("{}{path}", origin(app)))
        .send()
        .await
        .expect("request sent")
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn static_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/static")
}

/// Every file under `web/static/`, relative to it.
fn static_files() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, files: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("web/static is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, root, files);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut files = Vec::new();
    walk(&static_dir(), &static_dir(), &mut files);
    files.sort();
    files
}

fn assert_security_headers(response: &Response, frame_ancestors: &str) {
    let csp = header(response, CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        &format!("frame-ancestors {frame_ancestors}"),
    ] {
        assert!(csp.contains(directive), "{csp:?} lacks {directive:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp:?}");
    assert_eq!(
        header(response, "x-content-type-options".parse().expect("name")),
        "nosniff"
    );
    assert_eq!(
        header(response, "referrer-policy".parse().expect("name")),
        "no-referrer"
    );
}

#[tokio::test]
async fn every_page_route_answers_the_shell_and_an_unknown_code_a_not_found_shell() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let meetup = app.create_meetup(false).await;
    app.state
        .queries
        .wait_for_position(meetup.position, std::time::Duration::from_secs(10))
        .await
        .expect("the read model catches up");
    let shell = std::fs::read_to_string(static_dir().join("index.html")).expect("index.html");
    let head_end = shell.find("<head>").map_or(0, |at| at + "<head>".len());
    let lower = meetup.code.to_lowercase();
    for path in [
        "/".to_owned(),
        format!("/m/{}", meetup.code),
        format!("/m/{lower}"),
        format!("/m/{}/screen", meetup.code),
        format!("/m/{}/organize", meetup.code),
    ] {
        let response = get(&app, &path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
        let ancestors = if path.ends_with("/screen") {
            "*"
        } else {
            "'none'"
        };
        assert_security_headers(&response, ancestors);
        let body = response.text().await.expect("body");
        assert!(
            body.starts_with(&shell[..head_end]),
            "{path} is not the shell"
        );
        assert!(!body.contains("not-found"), "{path}");
    }
    for path in ["/m/ZZZZZZ", "/m/not-a-code/screen", "/m/ZZZZZZ/organize"] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
        let body = response.text().await.expect("body");
        assert!(
            body.contains(r#"<meta name="qicoo-status" content="not-found">"#),
            "{path}: {body}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn every_static_file_is_served_as_on_disk_with_its_type_and_a_revalidating_etag() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let files = static_files();
    assert!(
        files.iter().any(|f| f.ends_with(".js")),
        "web/static has no script: {files:?}"
    );
    for file in files.iter().filter(|f| *f != "index.html") {
        let on_disk = std::fs::read(static_dir().join(file)).expect("readable");
        let response = get(&app, &format!("/assets/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let expected_type = match file.rsplit_once('.').map(|(_, e)| e) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("html") => "text/html; charset=utf-8",
            _ => header(&response, CONTENT_TYPE),
        };
        assert_eq!(header(&response, CONTENT_TYPE), expected_type, "{file}");
        assert!(
            header(&response, CACHE_CONTROL).contains("max-age="),
            "{file}"
        );
        assert_security_headers(&response, "'none'");
        let etag = header(&response, ETAG).to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        let body = response.bytes().await.expect("body");
        assert!(
            body[..] == on_disk[..],
            "{file} is served with {} bytes, not the {} on disk",
            body.len(),
            on_disk.len()
        );

        let again = raw_client()
            .get(format!("{}/assets/{file}", origin(&app)))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .expect("sent");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{file}");
        assert_eq!(header(&again, ETAG), etag);
        assert!(again.bytes().await.expect("body").is_empty());
    }
    for missing in [
        "/assets/index.html",
        "/assets/nope.js",
        "/assets/..%2FCargo.toml",
        "/assets/vendor%2F..%2F..%2F..%2FCargo.toml",
    ] {
        assert_eq!(
            get(&app, missing).await.status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn scripts_are_sent_compressed_with_brotli_or_gzip_and_a_tag_of_their_own() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let file = static_files()
        .into_iter()
        .filter(|f| f.ends_with(".js"))
        .max_by_key(|f| std::fs::metadata(static_dir().join(f)).map_or(0, |m| m.len()))
        .expect("a script");
    let on_disk = std::fs::read(static_dir().join(&file)).expect("readable");
    let url = format!("{}/assets/{file}", origin(&app));
    let plain_tag = header(&get(&app, &format!("/assets/{file}")).await, ETAG).to_owned();
    for encoding in ["br", "gzip"] {
        let response = raw_client()
            .get(&url)
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .expect("sent");
        assert_eq!(header(&response, CONTENT_ENCODING), encoding);
        let tag = header(&response, ETAG).to_owned();
        assert_ne!(tag, plain_tag, "the {encoding} bytes share the plain tag");
        let compressed = response.bytes().await.expect("body");
        if on_disk.len() > 1024 {
            assert!(compressed.len() < on_disk.len(), "{encoding} saved nothing");
        }
        let revalidated = raw_client()
            .get(&url)
            .header(ACCEPT_ENCODING, encoding)
            .header(IF_NONE_MATCH, &tag)
            .send()
            .await
            .expect("sent");
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    }
    // A decompressing client gets the file's bytes.
    let decoded = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert!(decoded[..] == on_disk[..], "decoded {file} differs");
    app.cleanup().await;
}

#[tokio::test]
async fn the_qr_code_encodes_the_attendee_url_of_the_host_asked_or_the_public_url() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let meetup = app.create_meetup(false).await;
    app.state
        .queries
        .wait_for_position(meetup.position, std::time::Duration::from_secs(10))
        .await
        .expect("the read model catches up");
    let response = raw_client()
        .get(format!(
            "{}/m/{}/qr.svg",
            origin(&app),
            meetup.code.to_lowercase()
        ))
        .header(HOST, "qa.venue.example:8080")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "image/svg+xml");
    assert_security_headers(&response, "'none'");
    let svg = response.text().await.expect("body");
    let expected = format!("http://qa.venue.example:8080/m/{}", meetup.code);
    assert_eq!(svg, qicoo_api::web::qr::svg_of(&expected).expect("encodes"));
    assert!(
        svg.contains("#000000") && svg.contains("#ffffff"),
        "dark on white"
    );
    assert_eq!(
        get(&app, "/m/ZZZZZZ/qr.svg").await.status(),
        StatusCode::NOT_FOUND
    );
    app.cleanup().await;

    let Some(app) =
        spawn_app_with(Store::Sqlite, &["--public-url", "https://qa.example.com/"]).await
    else {
        return;
    };
    let meetup = app.create_meetup(false).await;
    app.state
        .queries
        .wait_for_position(meetup.position, std::time::Duration::from_secs(10))
        .await
        .expect("the read model catches up");
    let svg = get(&app, &format!("/m/{}/qr.svg", meetup.code))
        .await
        .text()
        .await
        .expect("body");
    let expected = format!("https://qa.example.com/m/{}", meetup.code);
    assert_eq!(svg, qicoo_api::web::qr::svg_of(&expected).expect("encodes"));
    let page = get(&app, &format!("/m/{}/screen", meetup.code))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains(r#"<meta name="qicoo-public-url" content="https://qa.example.com">"#),
        "{page}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn the_screen_may_be_framed_by_the_configured_ancestors_only() {
    let Some(app) = spawn_app_with(
        Store::Sqlite,
        &["--screen-frame-ancestors", "'self' https://obs.example.com"],
    )
    .await
    else {
        return;
    };
    let meetup = app.create_meetup(false).await;
    let screen = get(&app, &format!("/m/{}/screen", meetup.code)).await;
    assert_security_headers(&screen, "'self' https://obs.example.com");
    let attendee = get(&app, &format!("/m/{}", meetup.code)).await;
    assert_security_headers(&attendee, "'none'");
    app.cleanup().await;
}
