//! How a Redis error is sorted.

/// True when Redis cannot be reached right now (refused, dropped, timed out,
/// or a cluster moving slots): trying again later may work. Anything else is
/// an answer Qicoo did not expect.
pub fn redis_is_unavailable(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_cluster_error()
}
