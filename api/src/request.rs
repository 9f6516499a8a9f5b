//! The circumstances of a request that end up in event metadata: its id and a
//! salted hash of the client's address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use qicoo_commands::{Actor, CommandContext};

use crate::auth::HasSigner;
use crate::error::ApiError;
use crate::ratelimit::ClientAddr;

/// Header carrying the request id, set by the client or generated at the edge.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id and hashed client address.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_hash: Option<String>,
}

impl RequestMeta {
    /// The command context for an action by `actor`.
    pub fn context(&self, actor: Actor) -> CommandContext {
        CommandContext {
            actor,
            request_id: self.request_id.clone(),
            client_hash: self.client_hash.clone(),
        }
    }
}

impl<S> FromRequestParts<S> for RequestMeta
where
    S: HasSigner + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect::<String>())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // The client as the trusted-proxy rule decided it, else the peer.
        let client = match parts.extensions.get::<ClientAddr>() {
            Some(ClientAddr(client)) => *client,
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        };
        let client_hash = client.map(|ip| state.signer().client_hash(&ip.to_string()));
        Ok(Self {
            request_id,
            client_hash,
        })
    }
}
