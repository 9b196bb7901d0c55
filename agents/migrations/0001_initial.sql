-- runs, their assets and attempts: a query index over the run folders (which stay the truth)
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT,
    brief TEXT,
    status TEXT NOT NULL,
    backend TEXT,
    review_policy TEXT,
    created DOUBLE PRECISION,
    updated DOUBLE PRECISION,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    error TEXT
);

CREATE TABLE assets (
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    format TEXT,
    width INTEGER,
    height INTEGER,
    language TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    best_attempt INTEGER,
    accepted_attempt INTEGER,
    final_image TEXT,
    findings TEXT,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    passed INTEGER,
    score DOUBLE PRECISION,
    image TEXT,
    overlay TEXT,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated DOUBLE PRECISION,
    PRIMARY KEY (run_id, asset_id)
);
CREATE INDEX assets_status ON assets (status, updated);

CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    action TEXT,
    why TEXT,
    image TEXT,
    overlay TEXT,
    prompt TEXT,
    passed INTEGER,
    score DOUBLE PRECISION,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    regions TEXT,
    decision TEXT,
    decision_why TEXT,
    PRIMARY KEY (run_id, asset_id, n)
);

-- one row per time an asset was handed to a person (round = attempts made by then)
CREATE TABLE reviews (
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    requested DOUBLE PRECISION NOT NULL,
    reason TEXT,
    best_attempt INTEGER,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, asset_id, round)
);

-- the audit: every decision, kept forever; one per interrupt (the first one wins)
CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    round INTEGER,
    decision TEXT NOT NULL,
    attempt INTEGER,
    region TEXT,
    text TEXT,
    note TEXT,
    reviewer TEXT NOT NULL,
    via TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    applied DOUBLE PRECISION,
    outcome TEXT,
    UNIQUE (run_id, asset_id, interrupt_id)
);
CREATE INDEX decisions_asset ON decisions (run_id, asset_id, created);
