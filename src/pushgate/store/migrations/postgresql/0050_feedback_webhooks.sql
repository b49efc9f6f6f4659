-- Feedback: every device a push service said is dead, in order (the id is the API's cursor);
-- webhooks of apps and the durable queue of their calls (its rows are the delivery log).
CREATE TABLE device_feedback (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    device_id BIGINT NOT NULL,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    reason TEXT,
    provider_at DOUBLE PRECISION,               -- when the service says the token died (APNs 410 timestamp)
    recorded_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX device_feedback_by_app ON device_feedback (app_id, id);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,           -- JSON list of event kinds
    secret BYTEA NOT NULL,           -- the signing secret, encrypted like credentials
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app_id);

CREATE TABLE webhook_calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,             -- the JSON sent (signed as is)
    state TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    delivered_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX webhook_calls_due ON webhook_calls (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_calls_by_webhook ON webhook_calls (webhook_id, id);
