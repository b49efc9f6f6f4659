-- Who changed apps, keys and credentials: the key id, when, what and on what; never a secret.
-- app_id is no foreign key: an app's history outlives the app.
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    app_id TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX audit_log_by_app ON audit_log (app_id, id);
