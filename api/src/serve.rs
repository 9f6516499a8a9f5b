//! Starting and stopping: open the stores, migrate, serve until SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use qicoo_commands::store::PoolSettings;
use qicoo_commands::{CommandService, EventStore, EventStoreError};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::app::{app, HttpSettings};
use crate::auth::Signer;
use crate::config::{ServeArgs, StoreArgs};
use crate::secret::{load_secret, SecretError};
use crate::state::AppState;

/// Why Qicoo could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    EventStore(#[from] EventStoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Opens and migrates the event store.
pub async fn open_event_store(args: &StoreArgs) -> Result<EventStore, StartError> {
    let settings = PoolSettings {
        max_connections: args.db_max_connections.max(1),
        ..PoolSettings::default()
    };
    let store = EventStore::connect(args.event_store_url.expose_secret(), settings).await?;
    store.migrate().await?;
    Ok(store)
}

/// Everything the handlers need, from the settings.
pub async fn build_state(args: &ServeArgs) -> Result<AppState, StartError> {
    let secret = load_secret(
        args.secret.as_ref(),
        args.store.event_store_url.expose_secret(),
    )?;
    let store = open_event_store(&args.store).await?;
    Ok(AppState {
        commands: Arc::new(CommandService::new(store)),
        signer: Signer::new(secret),
    })
}

/// `qicoo migrate`.
pub async fn migrate(args: &StoreArgs) -> Result<(), StartError> {
    let store = open_event_store(args).await?;
    store.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

/// `qicoo serve`: runs until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let state = build_state(&args).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(%addr, "Qicoo is serving on http://{addr}/api/v1");
    let commands = state.commands.clone();
    let router = app(
        state,
        HttpSettings {
            max_body_bytes: args.max_body_bytes,
        },
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve)?;
    commands.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
