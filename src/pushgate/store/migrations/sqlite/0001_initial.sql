-- Apps, their credentials, devices, notifications and the delivery outbox.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    api_key_hash TEXT NOT NULL UNIQUE,
    api_key_prefix TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    summary TEXT NOT NULL,          -- JSON safe to show: kind, ids, topic, environment, expiry
    secret BLOB NOT NULL,           -- encrypted JSON with the key material
    created_at REAL NOT NULL,
    UNIQUE (app_id, platform, name)
);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    environment TEXT,
    extra TEXT,                     -- JSON for platform specifics (Web Push keys)
    active INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT,
    inactive_since REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (app_id, platform, token)
);
CREATE INDEX devices_by_user ON devices (app_id, user_id, created_at);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    message TEXT NOT NULL,          -- JSON of pushgate.message.Message
    created_at REAL NOT NULL,
    deadline REAL NOT NULL,
    total INTEGER NOT NULL,
    skipped TEXT NOT NULL DEFAULT '[]'  -- JSON: targets that got no delivery, with the reason
);
CREATE INDEX notifications_by_app ON notifications (app_id, created_at);

-- One row per (notification, device): the outbox while state = 'pending'.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    device_id INTEGER,
    user_id TEXT,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    environment TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    reason TEXT,
    status_code INTEGER,
    provider_id TEXT,
    unregistered_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_notification ON deliveries (notification_id);
