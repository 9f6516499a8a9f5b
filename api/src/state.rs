//! What every handler can reach: a cheap `Clone` of `Arc`s.

use std::sync::Arc;

use qicoo_commands::CommandService;

use crate::auth::{HasSigner, Signer};

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The write side.
    pub commands: Arc<CommandService>,
    /// Signs participant tokens and hashes client addresses.
    pub signer: Signer,
}

impl HasSigner for AppState {
    fn signer(&self) -> &Signer {
        &self.signer
    }
}
