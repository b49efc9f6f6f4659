-- A front door's key for a push (a Matrix event and pushkey, a Mattermost ack_id): the
-- notification that holds it. A second accept with a taken key sends nothing; it is answered
-- with the first notification. Rows are purged after expires_at (a bound on the peers' retries).
CREATE TABLE notification_keys (
    app_id TEXT NOT NULL,
    key TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (app_id, key)
);
CREATE INDEX notification_keys_expiry ON notification_keys (expires_at);

-- When a device confirmed it received the notification (an ID-only fetch, a Mattermost ack).
ALTER TABLE notifications ADD COLUMN acknowledged_at REAL;

-- ID-only fetches acknowledged on the token until now; the notification holds it from here.
UPDATE notifications SET acknowledged_at = (
    SELECT MIN(t.acknowledged_at) FROM chat_fetch_tokens t WHERE t.notification_id = notifications.id
) WHERE id IN (SELECT notification_id FROM chat_fetch_tokens WHERE acknowledged_at IS NOT NULL);
ALTER TABLE chat_fetch_tokens DROP COLUMN acknowledged_at;
