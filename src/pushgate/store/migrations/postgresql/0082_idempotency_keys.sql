-- Idempotency-Key headers of send requests: the first answer, written in the transaction that
-- accepted the request, so a repeat returns it and sends nothing twice.
CREATE TABLE idempotency_keys (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,      -- sha256 of the endpoint and the body
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,           -- JSON
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
