//! The metric names, and the `# HELP` text of each.

/// Counter `{route, method, status}`.
pub const HTTP_REQUESTS: &str = "tokenmint_http_requests_total";
/// Histogram `{route, method}`.
pub const HTTP_DURATION: &str = "tokenmint_http_request_duration_seconds";
/// Counter `{grant, outcome}`.
pub const TOKEN_REQUESTS: &str = "tokenmint_token_requests_total";
/// Counter `{grant, reason}`.
pub const INVALID_GRANTS: &str = "tokenmint_invalid_grants_total";
/// Counter.
pub const REUSE_DETECTED: &str = "tokenmint_refresh_reuse_detected_total";
/// Counter.
pub const GRACE_HITS: &str = "tokenmint_refresh_grace_hits_total";
/// Counter.
pub const GRACE_AFTER_OUTAGE: &str = "tokenmint_refresh_grace_after_outage_total";
/// Counter.
pub const ROLLED_FORWARD: &str = "tokenmint_refresh_rolled_forward_total";
/// Counter `{reason}`.
pub const SESSIONS_REVOKED: &str = "tokenmint_sessions_revoked_total";
/// Counter `{event, outcome}`.
pub const WEBHOOK_DELIVERIES: &str = "tokenmint_webhook_deliveries_total";
/// Counter `{outcome}`.
pub const APPWRITE_REQUESTS: &str = "tokenmint_appwrite_requests_total";
/// Histogram.
pub const APPWRITE_DURATION: &str = "tokenmint_appwrite_request_duration_seconds";
/// Counter `{outcome}`.
pub const APPWRITE_RECONCILED: &str = "tokenmint_appwrite_reconcile_checks_total";
/// Counter `{limit}`.
pub const RATE_LIMITED: &str = "tokenmint_rate_limited_total";
/// Gauge `{state}`.
pub const SIGNING_KEYS: &str = "tokenmint_signing_keys";
/// Gauge.
pub const DB_POOL_SIZE: &str = "tokenmint_db_pool_connections";
/// Gauge.
pub const DB_POOL_IDLE: &str = "tokenmint_db_pool_idle_connections";
/// Gauge.
pub const DB_POOL_MAX: &str = "tokenmint_db_pool_max_connections";
/// Gauge.
pub const DB_POOL_WAITING: &str = "tokenmint_db_pool_waiting";
/// Counter (PostgreSQL only).
pub const DB_ROTATION_BATCHES: &str = "tokenmint_db_rotation_batches_total";
/// Counter (PostgreSQL only).
pub const DB_ROTATION_ATTEMPTS: &str = "tokenmint_db_rotation_attempts_total";
/// Counter (PostgreSQL only).
pub const DB_ROTATION_WITHDRAWN: &str = "tokenmint_db_rotation_withdrawn_total";
/// Gauge, 1 or 0.
pub const DB_WRITABLE: &str = "tokenmint_db_writable";
/// Counter.
pub const DB_OUTAGES: &str = "tokenmint_db_outages_total";
/// Gauge `{version}`, always 1.
pub const BUILD_INFO: &str = "tokenmint_build_info";
/// Gauge `{state}`: 1 for the circuit breaker's current state, 0 for the others.
pub const APPWRITE_CIRCUIT_STATE: &str = "tokenmint_appwrite_circuit_state";
/// Counter.
pub const APPWRITE_CIRCUIT_OPENED: &str = "tokenmint_appwrite_circuit_opened_total";
/// Counter.
pub const APPWRITE_CIRCUIT_REFUSED: &str = "tokenmint_appwrite_circuit_refused_total";

/// `# HELP` of each metric.
pub(super) const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status",
    ),
    (
        HTTP_DURATION,
        "Time to answer an HTTP request (to the response head), by route template and method",
    ),
    (
        TOKEN_REQUESTS,
        "Grants of POST /oauth/token by outcome: issued, or the OAuth error code answered",
    ),
    (INVALID_GRANTS, "invalid_grant answers by reason"),
    (
        REUSE_DETECTED,
        "Used refresh tokens presented after the grace window (each revokes its session)",
    ),
    (
        GRACE_HITS,
        "Used refresh tokens presented again within the grace window (answered with the same successor)",
    ),
    (
        GRACE_AFTER_OUTAGE,
        "Used refresh tokens presented after the grace window and still answered with the same successor, because an outage began within the window",
    ),
    (
        ROLLED_FORWARD,
        "Sessions moved forward to a refresh token of a later generation than the stored one: rotations the database had lost (a failover of asynchronous replication, a restored backup)",
    ),
    (SESSIONS_REVOKED, "Live sessions revoked, by reason"),
    (
        WEBHOOK_DELIVERIES,
        "Appwrite webhook deliveries by deciding event and outcome",
    ),
    (
        APPWRITE_REQUESTS,
        "Verifications of a session proof with Appwrite, by outcome",
    ),
    (
        APPWRITE_DURATION,
        "Time of a verification with Appwrite, retry included",
    ),
    (
        APPWRITE_RECONCILED,
        "Users the reconciler asked Appwrite about, by outcome (unavailable: nothing revoked)",
    ),
    (RATE_LIMITED, "Requests refused by a rate limit, by limit"),
    (SIGNING_KEYS, "Signing keys loaded, by state"),
    (DB_POOL_SIZE, "Open database connections"),
    (DB_POOL_IDLE, "Idle database connections"),
    (
        DB_POOL_MAX,
        "Largest number of database connections the pool opens",
    ),
    (
        DB_POOL_WAITING,
        "Requests waiting for a database connection",
    ),
    (
        DB_ROTATION_BATCHES,
        "Rotation statements sent to PostgreSQL, each carrying the rotations of the refreshes waiting at the time",
    ),
    (
        DB_ROTATION_ATTEMPTS,
        "Refresh-token rotations those statements carried, won or lost (divided by the batches: the mean batch size)",
    ),
    (
        DB_ROTATION_WITHDRAWN,
        "Rotations withdrawn before any statement carried them, because their request had given up (its deadline passed)",
    ),
    (
        DB_WRITABLE,
        "1 while this replica's last attempt to write to the database worked (what /readyz reports), 0 during an outage",
    ),
    (
        DB_OUTAGES,
        "Database outages this replica saw begin: operations that found the database unreachable, unresponsive or read-only",
    ),
    (BUILD_INFO, "The running tokenmint's version"),
    (
        APPWRITE_CIRCUIT_STATE,
        "The Appwrite circuit breaker's state: 1 for the current one (closed, open, half_open)",
    ),
    (
        APPWRITE_CIRCUIT_OPENED,
        "Times the Appwrite circuit breaker opened after consecutive failures",
    ),
    (
        APPWRITE_CIRCUIT_REFUSED,
        "Exchanges answered 503 at once because the Appwrite circuit was open",
    ),
];
