-- API keys of their own: several per app, each with a scope (manage: everything of its app;
-- send: sends only), a name, an optional rate limit, revocation, last use, and an expiry set
-- when it is rotated (the overlap). app_id NULL: an admin key. The apps' keys move here as
-- their 'default' manage key (a previous key still in its overlap too).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    app_id TEXT REFERENCES apps(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    rate_limit INTEGER,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION,
    last_used_at DOUBLE PRECISION
);
CREATE INDEX api_keys_by_app ON api_keys (app_id, created_at);
INSERT INTO api_keys (id, app_id, scope, name, key_hash, key_prefix, created_at)
    SELECT 'key_' || substr(id, 5), id, 'manage', 'default', api_key_hash, api_key_prefix,
        created_at FROM apps;
INSERT INTO api_keys (id, app_id, scope, name, key_hash, key_prefix, created_at, expires_at)
    SELECT 'key_' || substr(id, 5) || 'p', id, 'manage', 'default', previous_key_hash, 'pgapp_',
        created_at, previous_key_until FROM apps
    WHERE previous_key_hash IS NOT NULL AND previous_key_until IS NOT NULL;
-- apps.api_key_prefix stays: the listing's prefix of the app's default key.
ALTER TABLE apps DROP COLUMN api_key_hash;
ALTER TABLE apps DROP COLUMN previous_key_hash;
ALTER TABLE apps DROP COLUMN previous_key_until;
