-- Apps, their credentials, devices, notifications and the delivery outbox, shared by every
-- gateway on this database. Times are seconds since the epoch (as in the SQLite schema), so
-- both backends hand out the same records.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    api_key_hash TEXT NOT NULL UNIQUE,
    api_key_prefix TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    summary JSONB NOT NULL,         -- safe to show: kind, ids, topic, environment, expiry
    secret BYTEA NOT NULL,          -- encrypted JSON with the key material
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (app_id, platform, name)
);

CREATE TABLE devices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    environment TEXT,
    extra TEXT,                     -- JSON for platform specifics (Web Push keys)
    active BOOLEAN NOT NULL DEFAULT TRUE,
    inactive_reason TEXT,
    inactive_since DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (app_id, platform, token)
);
CREATE INDEX devices_by_user ON devices (app_id, user_id, created_at);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    message TEXT NOT NULL,          -- JSON of pushgate.message.Message
    created_at DOUBLE PRECISION NOT NULL,
    deadline DOUBLE PRECISION NOT NULL,
    total INTEGER NOT NULL,
    skipped TEXT NOT NULL DEFAULT '[]',  -- JSON: targets that got no delivery, with the reason
    renders TEXT                    -- JSON: per-platform renders made at accept time
);

-- One row per (notification, device): the outbox while state = 'pending'.
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    device_id BIGINT,
    user_id TEXT,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    environment TEXT,
    extra TEXT,                     -- JSON: what a delivery needs beyond its token
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    reason TEXT,
    status_code INTEGER,
    provider_id TEXT,
    unregistered_at DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    -- The lease: a pending row belongs to lease_owner (a dispatcher) until claimable_at;
    -- a new row is claimable from its acceptance. Claims take the oldest claimable first.
    lease_owner TEXT,
    claimable_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX deliveries_claimable ON deliveries (claimable_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_by_notification ON deliveries (notification_id);
