//! `GET /api/v1/meetups/{id}/live`: the WebSocket stream of a meetup (see
//! [`frames`] for the messages).
//!
//! On connect a client gets a snapshot, then changes in position order. With
//! `?after=<position>` a reconnecting client gets exactly the frames it missed
//! when this node still has them, otherwise a fresh snapshot. The organizer
//! authenticates with a first message, never in the URL (which lands in access
//! logs), and then also sees pending and rejected questions.

pub mod client;
pub mod frames;
pub mod hub;
pub mod room;
pub mod session;
#[cfg(test)]
pub(crate) mod test_support;

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header::ORIGIN;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use qicoo_domain::MeetupId;
use serde::Deserialize;
use tokio::sync::Semaphore;

pub use hub::{LiveHub, LiveSettings};
pub use room::Audience;

use crate::auth::Credential;
use crate::error::ApiError;
use crate::http::parse_id;
use crate::path::Path;
use crate::query::Query;
use crate::ratelimit::{ClientAddr, Group, Subject};
use crate::state::AppState;

/// Who may connect: the connection cap and the allowed origins.
#[derive(Clone)]
pub struct LiveGate {
    /// Permits for WebSocket connections on this node.
    pub connections: Arc<Semaphore>,
    /// Browser origins allowed to connect; empty: any.
    pub allowed_origins: Arc<Vec<String>>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/meetups/{id}/live", get(live))
}

#[derive(Deserialize)]
struct Params {
    after: Option<String>,
}

async fn live(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    client: ClientAddr,
    Query(params): Query<Params>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let meetup: MeetupId = parse_id(&id, "No such meetup.")?;
    let after = params
        .after
        .as_deref()
        .map(|raw| {
            raw.parse::<i64>().ok().filter(|p| *p >= 0).ok_or_else(|| {
                crate::http::reads::field_error("after", "must be a non-negative integer")
            })
        })
        .transpose()?;
    check_origin(&state.live_gate, &headers)?;
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    state
        .rate_limit(Group::Live, Subject::Client(client))
        .await?;
    let permit = state
        .live_gate
        .connections
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::AtCapacity("live connections"))?;
    let (room, joined) = state.live.join(meetup, after).await.map_err(|e| match e {
        hub::JoinError::NotFound => ApiError::NotFound("No such meetup."),
        hub::JoinError::Query(e) => ApiError::from(e),
    })?;
    let hub = state.live.clone();
    let authorize = organizer_authorizer(state.clone(), meetup);
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        // The stream runs server → client: a client has no reason to send
        // more than a small text message (see `client`); a frame over the
        // limit is refused from its header, before its payload is buffered.
        .max_message_size(client::MAX_MESSAGE_BYTES)
        .max_frame_size(client::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            metrics::gauge!("qicoo_websocket_clients").increment(1.0);
            let (sink, stream) = socket.split();
            session::run_authorized(
                sink,
                stream,
                &room,
                joined,
                hub.settings,
                hub.shutdown.clone(),
                Some(authorize),
            )
            .await;
            metrics::gauge!("qicoo_websocket_clients").decrement(1.0);
        }))
}

/// Checks a presented organizer key against the meetup's and, if it is the
/// key, joins the meetup's organizer room.
fn organizer_authorizer(state: AppState, meetup: MeetupId) -> session::Authorize {
    Box::new(move |key: String| {
        Box::pin(async move {
            let failed = |e: &dyn std::fmt::Display| session::AuthRefused::Failed(e.to_string());
            let stored = state
                .queries
                .organizer_key_hash(meetup)
                .await
                .map_err(|e| failed(&e))?;
            let presented = Credential::OrganizerKey { meetup, key };
            if !stored.is_some_and(|hash| presented.holds_key_of(meetup, &hash)) {
                return Err(session::AuthRefused::WrongKey);
            }
            state
                .live
                .join_as(meetup, Audience::Organizer, None)
                .await
                .map_err(|e| failed(&e))
        })
    })
}

/// Browsers send `Origin`; when origins are configured, others are refused.
fn check_origin(gate: &LiveGate, headers: &HeaderMap) -> Result<(), ApiError> {
    if gate.allowed_origins.is_empty() {
        return Ok(());
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        // Not a browser: origin checks protect browsers' users only.
        return Ok(());
    };
    if gate
        .allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Origin {origin} is not allowed to connect."
        )))
    }
}
