//! Starting and stopping: open the stores, migrate (or check the schema, when
//! the migration Job owns it: see [`crate::schema`]), run the projection workers
//! this role runs, serve until SIGTERM/Ctrl-C, then stop in order within the
//! shutdown timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use qicoo_commands::store::PoolSettings;
use qicoo_commands::{CommandService, EventStore, EventStoreError, EventStoreKind};
use qicoo_projections::changes::ChangeStream;
use qicoo_projections::{ReadQueries, ReadSide, ReadSideConfig, ReadSideError};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{app, HttpSettings};
use crate::auth::Signer;
use crate::config::{LeaderboardArgs, Role, ServeArgs, StoreArgs};
use crate::live::{LiveGate, LiveHub, LiveSettings};
use crate::secret::{load_secret, SecretError};
use crate::server::{serve_on, ServerSettings};
use crate::state::{AppState, HealthSettings};

/// Why Qicoo could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    EventStore(#[from] EventStoreError),
    #[error("read side: {0}")]
    ReadSide(#[from] ReadSideError),
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
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    #[error(transparent)]
    RateLimiter(#[from] crate::ratelimit::LimiterError),
    #[error(transparent)]
    Audit(#[from] qicoo_projections::audit::AuditError),
    #[error("read side: {0}")]
    Query(#[from] qicoo_projections::QueryError),
    #[error("no meetup has the id or join code {0:?}")]
    NoSuchMeetup(String),
    #[error("verification found {0} difference(s) between the events and the stores")]
    Differences(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("health check failed")]
    Healthcheck(#[from] crate::healthcheck::HealthcheckError),
}

/// Opens and migrates the event store.
pub async fn open_event_store(args: &StoreArgs) -> Result<EventStore, StartError> {
    let store = connect_event_store(args).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens the event store, changing nothing.
async fn connect_event_store(args: &StoreArgs) -> Result<EventStore, StartError> {
    let settings = PoolSettings {
        max_connections: args.db_max_connections.max(1),
        ..PoolSettings::default()
    };
    Ok(EventStore::connect(args.event_store_url.expose_secret(), settings).await?)
}

/// Connects the read side (and migrates the read model).
pub async fn open_read_side(
    store: &StoreArgs,
    leaderboard: &LeaderboardArgs,
) -> Result<ReadSide, StartError> {
    Ok(ReadSide::connect(read_side_config(store, leaderboard)).await?)
}

/// The read side of a serving process: starts even while the read model or
/// Redis is unreachable, and connects (and migrates, or checks that it is
/// migrated) when they appear.
async fn start_read_side(
    store: &StoreArgs,
    leaderboard: &LeaderboardArgs,
    auto_migrate: bool,
) -> Result<ReadSide, StartError> {
    let config = read_side_config(store, leaderboard);
    Ok(if auto_migrate {
        ReadSide::open(config).await?
    } else {
        ReadSide::open_checked(config).await?
    })
}

pub(crate) fn read_side_config(store: &StoreArgs, leaderboard: &LeaderboardArgs) -> ReadSideConfig {
    let mut config = ReadSideConfig::new(store.event_store_url.expose_secret());
    config.read_model_url = store
        .read_model_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    config.redis_url = leaderboard
        .redis_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    config.redis_prefix = leaderboard.redis_prefix.clone();
    config.max_connections = store.db_max_connections.max(1);
    config
}

fn ephemeral_secret() -> secrecy::SecretSlice<u8> {
    let mut bytes = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    secrecy::SecretSlice::from(bytes)
}

/// A started Qicoo: its state, and the background work of its role.
pub struct Qicoo {
    pub state: AppState,
    cancel: CancellationToken,
    /// Closes WebSocket sessions (1001) when shutdown begins.
    live_shutdown: CancellationToken,
    projectors: Option<JoinHandle<()>>,
    http: HttpSettings,
    server: ServerSettings,
    serves_api: bool,
}

impl Qicoo {
    /// Opens everything and starts the projection workers this role runs.
    pub async fn start(args: &ServeArgs) -> Result<Self, StartError> {
        if args.role != Role::All {
            // Separate processes share leaderboards and the change stream through
            // Redis, and coordinate projectors through Postgres advisory locks.
            let postgres = matches!(
                EventStoreKind::of_url(args.store.event_store_url.expose_secret()),
                Ok(EventStoreKind::Postgres)
            );
            if !postgres || args.leaderboard.redis_url.is_none() {
                return Err(StartError::Config(
                    "--role api and --role projector need a Postgres event store and QICOO_REDIS_URL",
                ));
            }
        }
        let secret = match load_secret(
            args.secret.as_ref(),
            args.store.event_store_url.expose_secret(),
        ) {
            // A projector signs nothing: it needs no shared secret.
            Err(SecretError::Required) if args.role == Role::Projector => ephemeral_secret(),
            other => other?,
        };
        let auto_migrate = args.auto_migrate();
        let store = connect_event_store(&args.store).await?;
        let event_store_schema = crate::schema::prepare_event_store(&store, auto_migrate).await?;
        let read_side =
            Arc::new(start_read_side(&args.store, &args.leaderboard, auto_migrate).await?);
        let notifier = read_side.append_notifier();
        let commands = CommandService::with_append_hook(store, Arc::new(move || notifier.notify()));
        let cancel = CancellationToken::new();
        let live_shutdown = CancellationToken::new();
        let live = live_hub(
            args.role,
            read_side.queries(),
            read_side.changes(),
            LiveSettings {
                tick: args.live_tick,
                client_buffer: args.live_buffer,
                heartbeat: args.live_heartbeat,
                write_timeout: args.live_write_timeout,
            },
            live_shutdown.clone(),
        );
        let projectors = args
            .role
            .runs_projections()
            .then(|| read_side.spawn_projectors(cancel.clone()));
        let state = AppState {
            commands: Arc::new(commands),
            queries: read_side.queries(),
            read_side,
            signer: Signer::new(secret),
            health: HealthSettings {
                role: args.role,
                max_lag: args.ready_max_lag,
            },
            readiness: Arc::new(crate::readiness::Readiness::new(event_store_schema)),
            live,
            rate_limits: Arc::new(crate::ratelimit::from_args(
                &args.rate_limits,
                &args.leaderboard,
            )?),
            client_addresses: Arc::new(crate::ratelimit::ClientAddressRule::new(
                &args.rate_limits.trusted_proxies,
                args.rate_limits.forwarded_header,
            )),
            live_gate: LiveGate {
                connections: Arc::new(Semaphore::new(args.max_connections)),
                allowed_origins: Arc::new(
                    args.allowed_origins
                        .iter()
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect(),
                ),
            },
        };
        Ok(Self {
            state,
            cancel,
            live_shutdown,
            projectors,
            http: HttpSettings {
                max_body_bytes: args.max_body_bytes,
                web: crate::web::WebSettings {
                    public_url: args.public_url.clone(),
                    screen_frame_ancestors: args.screen_frame_ancestors.clone(),
                },
            },
            server: args.server_settings(),
            serves_api: args.role.serves_api(),
        })
    }

    /// The settings of the HTTP application.
    pub fn http_settings(&self) -> HttpSettings {
        self.http.clone()
    }

    /// The HTTP application of this role: everything, or (projector) only
    /// health and metrics.
    pub fn router(&self) -> Router {
        if self.serves_api {
            app(self.state.clone(), self.http.clone())
        } else {
            crate::app::operations_app(self.state.clone())
        }
    }

    /// The HTTP server's timeouts and connection cap.
    pub fn server_settings(&self) -> ServerSettings {
        self.server
    }

    /// Tells WebSocket clients to go elsewhere (close 1001), so that the HTTP
    /// server can drain.
    pub fn begin_shutdown(&self) {
        self.live_shutdown.cancel();
    }

    /// A token that fires when shutdown begins.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.live_shutdown.clone()
    }

    /// Stops every background task on one signal and waits for them: the
    /// workers (each finishes its batch and releases its lock), the live
    /// hub's reader and rooms, the feed's listener; then closes the pools.
    /// Waits at most `timeout` in all.
    pub async fn stop(self, timeout: Duration) {
        self.live_shutdown.cancel();
        self.cancel.cancel();
        let live = self.state.live.clone();
        let read_side = self.state.read_side.clone();
        let projectors = self.projectors;
        let stopped = tokio::time::timeout(timeout, async move {
            if let Some(projectors) = projectors {
                if let Err(e) = projectors.await {
                    tracing::error!(error = %e, "the projection workers panicked");
                }
            }
            live.stopped().await;
            read_side.close().await;
        })
        .await;
        if stopped.is_err() {
            tracing::warn!(?timeout, "background tasks did not stop in time");
        }
        let _ = tokio::time::timeout(timeout, self.state.commands.store().close()).await;
    }
}

/// The live hub of a role: only a role that serves WebSocket clients reads
/// the change stream (a projector would read it for nobody).
fn live_hub(
    role: Role,
    queries: Arc<dyn ReadQueries>,
    changes: Arc<dyn ChangeStream>,
    settings: LiveSettings,
    shutdown: CancellationToken,
) -> Arc<LiveHub> {
    let hub = LiveHub::new(queries, settings, shutdown);
    if role.serves_api() {
        hub.read(changes);
    }
    hub
}

/// `qicoo migrate`: the event store, then the read model.
pub async fn migrate(args: &StoreArgs) -> Result<(), StartError> {
    let store = open_event_store(args).await?;
    store.close().await;
    let leaderboard = LeaderboardArgs {
        redis_url: None,
        redis_prefix: String::new(),
    };
    open_read_side(args, &leaderboard).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `qicoo serve`: runs until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let qicoo = Qicoo::start(&args).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(%addr, role = ?args.role, "Qicoo is serving on http://{addr}/ (the API under /api/v1)");
    let router = qicoo.router();
    let live_shutdown = qicoo.shutdown_token();
    let draining = live_shutdown.clone();
    let served = serve_on(listener, router, qicoo.server_settings(), async move {
        shutdown_signal().await;
        live_shutdown.cancel();
    });
    // In-flight requests get the shutdown timeout to finish, then are dropped.
    tokio::select! {
        () = served => {},
        () = async {
            draining.cancelled().await;
            tokio::time::sleep(args.shutdown_timeout).await;
        } => {
            tracing::warn!(timeout = ?args.shutdown_timeout, "requests still open at the shutdown timeout");
        }
    }
    qicoo.stop(args.shutdown_timeout).await;
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

#[cfg(test)]
mod tests {
    use qicoo_projections::changes::InProcessChanges;

    use super::*;
    use crate::live::test_support::MemoryQueries;

    #[tokio::test]
    async fn only_roles_serving_websocket_clients_read_the_change_stream() {
        let queries: Arc<dyn ReadQueries> = Arc::new(MemoryQueries::new(1));
        let on_projector = Arc::new(InProcessChanges::default());
        let on_api = Arc::new(InProcessChanges::default());
        let shutdown = CancellationToken::new();
        let projector = live_hub(
            Role::Projector,
            queries.clone(),
            on_projector.clone(),
            LiveSettings::default(),
            shutdown.clone(),
        );
        let api = live_hub(
            Role::Api,
            queries,
            on_api.clone(),
            LiveSettings::default(),
            shutdown.clone(),
        );
        // The API's reader subscribes once it has run; the projector's would
        // have run before it.
        while on_api.subscribers() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(on_projector.subscribers(), 0);
        shutdown.cancel();
        api.stopped().await;
        projector.stopped().await;
        assert_eq!(on_api.subscribers(), 0, "the reader let go on shutdown");
    }
}
