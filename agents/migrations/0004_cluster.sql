-- many machines: jobs enqueued for Celery workers, their assets, leases (one executor per
-- asset at a time, fenced by a token), payment intents (pay once per attempt) and workers.
-- Created on SQLite too (migrations are the same everywhere); only PostgreSQL uses them.

-- one row per `run` / `batch` enqueued: its budget is shared by every worker
CREATE TABLE cluster_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    max_cost DOUBLE PRECISION,
    spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    request TEXT,
    finished_at DOUBLE PRECISION
);

-- one row per asset of a job; state queued | done; stage: the queue its next task goes
-- to; published: 0 between recording the next stage and handing its task to the broker
CREATE TABLE cluster_items (
    job_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    enqueued_at DOUBLE PRECISION NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    finished_at DOUBLE PRECISION,
    outcome TEXT,
    PRIMARY KEY (job_id, run_id, asset_id)
);
CREATE INDEX cluster_items_state ON cluster_items (state, enqueued_at);
CREATE INDEX cluster_items_asset ON cluster_items (run_id, asset_id);

-- who executes an asset now; token grows at every take-over (fencing)
CREATE TABLE leases (
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    token INTEGER NOT NULL,
    stage TEXT,
    acquired_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, asset_id)
);

-- one row per paid attempt, before the submit; the provider's handle once accepted
CREATE TABLE paid_intents (
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    job_id TEXT,
    owner TEXT NOT NULL,
    lease_token INTEGER NOT NULL,
    backend TEXT,
    price_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    handle TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    accepted_at DOUBLE PRECISION,
    settled_at DOUBLE PRECISION,
    cost_usd DOUBLE PRECISION,
    takeovers INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, asset_id, attempt)
);

-- live workers (heartbeat), for `signwriter status`
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL
);
