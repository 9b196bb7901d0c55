-- automation: schedule ticks, the webhook outbox and endpoints, API tokens and API jobs

-- one row per (job, wall-clock tick): the unique key that makes a tick fire once
CREATE TABLE schedule_ticks (
    job TEXT NOT NULL,
    tick TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    started_at TEXT,
    finished_at TEXT,
    result TEXT,
    PRIMARY KEY (job, tick)
);

-- one row per event and receiver; id is the webhook-id, derived from the event
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    delivered_at DOUBLE PRECISION
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_at);

CREATE TABLE webhook_endpoints (
    url TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    disabled_at DOUBLE PRECISION,
    reason TEXT
);

-- /v1 API tokens: only the SHA-256 of a token is kept
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

-- jobs posted to /v1/jobs, unique per token and Idempotency-Key
CREATE TABLE api_jobs (
    id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    idempotency_key TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    items TEXT,
    bad TEXT,
    error TEXT,
    UNIQUE (token_id, idempotency_key)
);
