//! The OpenAPI document is the contract: it is served as OpenAPI 3.1, and it
//! describes exactly the routes the router has — a route added without its
//! `#[utoipa::path]` (or a documented one that no longer exists) fails here.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use utoipa::OpenApi;

use crate::support::{spawn_app, Store, TestApp};

/// The methods a route can be documented with (HEAD comes with GET).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Path and methods of every route of the router, read from its `Debug` form
/// (axum's only view of its route table): the path of each route id, and the
/// methods its `Allow` header lists.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let debug = format!("{:?}", qicoo_api::app::routes());
    // The fallback router lists the fallbacks, not routes.
    let table = debug
        .split_once("fallback_router")
        .map(|(table, _)| table)
        .expect("the router's Debug form names its fallback router");
    let (endpoints, paths) = table
        .split_once("node: Node { paths: {")
        .expect("the router's Debug form lists its paths");

    let mut path_of = BTreeMap::new();
    for entry in paths.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("a route id and its path");
        let (path, _) = rest.split_once('"').expect("a quoted path");
        path_of.insert(id.to_owned(), path.to_owned());
    }

    let mut routes = BTreeMap::new();
    for entry in endpoints.split("RouteId(").skip(1) {
        let (id, rest) = entry
            .split_once("): ")
            .expect("a route id and its endpoint");
        assert!(
            rest.starts_with("MethodRouter("),
            "route {id} is a service, not a method router: the document cannot be checked against it"
        );
        let allow = rest
            .split_once("allow_header: Bytes(b\"")
            .and_then(|(_, allow)| allow.split_once('"'))
            .map(|(allow, _)| allow)
            .unwrap_or_else(|| panic!("route {id} answers any method"));
        let path = path_of
            .get(id)
            .unwrap_or_else(|| panic!("route {id} has no path"));
        if path.contains("__private__axum") {
            continue;
        }
        let methods = allow
            .split(',')
            .filter(|m| *m != "HEAD")
            .map(str::to_owned)
            .collect();
        routes.insert(path.clone(), methods);
    }
    routes
}

/// Path and methods of every operation of a document.
fn documented_routes(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    document["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .map(|m| m.to_uppercase())
                .filter(|m| METHODS.contains(&m.as_str()))
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

fn generated_document() -> Value {
    serde_json::to_value(qicoo_api::openapi::ApiDoc::openapi()).expect("the document serializes")
}

#[test]
fn every_route_of_the_router_is_described_by_the_document() {
    let routes = router_routes();
    // Guards the reading of the router itself: it must have found the API.
    assert!(
        routes.contains_key("/api/v1/participants") && routes.contains_key("/healthz"),
        "the router's routes were not read: {routes:?}"
    );
    let documented = documented_routes(&generated_document());
    for (path, methods) in &routes {
        assert_eq!(
            documented.get(path),
            Some(methods),
            "the router serves {methods:?} {path}; the document describes {:?}",
            documented.get(path)
        );
    }
    for path in documented.keys() {
        assert!(
            routes.contains_key(path),
            "the document describes {path}, which the router does not serve"
        );
    }
}

#[test]
fn every_operation_names_its_problem_responses_and_security() {
    let document = generated_document();
    let schemes = &document["components"]["securitySchemes"];
    for scheme in ["participant_token", "organizer_key"] {
        assert_eq!(schemes[scheme]["type"], "http", "{scheme}");
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    let problem = &document["components"]["schemas"]["Problem"];
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .expect("Problem lists its required fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["type", "title", "status", "detail"])
    );
    assert!(problem["properties"]["errors"].is_object());
    let unavailable = &document["components"]["responses"]["Unavailable"];
    assert!(unavailable["headers"]["Retry-After"].is_object());
    assert!(unavailable["content"]["application/problem+json"].is_object());

    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = operation["responses"]
                .as_object()
                .expect("an operation lists its responses");
            let ok = responses.keys().any(|s| s.starts_with('2') || s == "101");
            assert!(ok, "{method} {path} documents no success");
            if operation.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} takes a body but does not document {status}"
                    );
                }
            }
            if path.starts_with("/api/v1/") && !path.ends_with("/openapi.json") {
                assert!(
                    responses.contains_key("503") || path == "/api/v1/participants",
                    "{method} {path} touches storage but does not document 503"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_matches_the_code() {
    let app = spawn_app(Store::Sqlite)
        .await
        .expect("SQLite needs no service");
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the document is JSON"
    );
    let served: Value = response.json().await.expect("the document parses as JSON");
    let version = served["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(served["info"]["title"], "Qicoo");
    assert_eq!(served, generated_document());
    app.cleanup().await;
}

/// The server's root: the document's paths include `/api/v1`.
fn root(app: &TestApp) -> &str {
    app.base
        .strip_suffix("/api/v1")
        .expect("the test app's base is its /api/v1")
}

/// A path of the document with each parameter filled in.
fn concrete(path: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    path.replace("{id}", &id).replace("{action}", "answer")
}

#[tokio::test]
async fn the_router_answers_each_documented_method_and_refuses_the_others() {
    let app = spawn_app(Store::Sqlite)
        .await
        .expect("SQLite needs no service");
    for (path, methods) in documented_routes(&generated_document()) {
        let url = format!("{}{}", root(&app), concrete(&path));
        for method in METHODS {
            let status = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).expect("a method"),
                    &url,
                )
                .send()
                .await
                .expect("request")
                .status();
            if methods.contains(method) {
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but not served"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    app.cleanup().await;
}
