-- Chat state an app server mirrors into pushgate, posted messages and ID-only fetch tokens
-- (the tables of the SQLite schema's 0010_chat.sql). Push preferences: push_level is 'all' /
-- 'mentions' / 'none' or NULL (defer to the next scope); push_disabled_until is a snooze
-- (epoch seconds) or NULL.
CREATE TABLE chat_settings (
    app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    settings TEXT NOT NULL              -- JSON of pushgate.store.chat.ChatSettings
);

CREATE TABLE chat_users (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT,
    push_level TEXT,
    push_disabled_until DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, id)
);

CREATE TABLE chat_channels (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT,
    push_notifications BOOLEAN NOT NULL DEFAULT TRUE,
    content_mode TEXT,                  -- NULL: the app's content mode
    push_level TEXT,
    push_disabled_until DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- seq keeps the order members joined in: the documented order of the recipient cap.
CREATE TABLE chat_members (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    push_level TEXT,
    push_disabled_until DOUBLE PRECISION,
    muted BOOLEAN NOT NULL DEFAULT FALSE,   -- the member muted this channel
    mute_expires_at DOUBLE PRECISION,       -- NULL: until unmuted
    unread INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (app_id, channel_id) REFERENCES chat_channels(app_id, id) ON DELETE CASCADE,
    UNIQUE (app_id, channel_id, user_id)
);
CREATE INDEX chat_members_by_user ON chat_members (app_id, user_id);

CREATE TABLE chat_user_mutes (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,              -- who muted
    muted_user_id TEXT NOT NULL,        -- whom
    expires_at DOUBLE PRECISION,
    PRIMARY KEY (app_id, muted_user_id, user_id)
);

CREATE TABLE chat_thread_participants (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (app_id, parent_id, user_id)
);

CREATE TABLE chat_presence (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    online_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE chat_templates (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,        -- apns / fcm / webpush
    event_type TEXT NOT NULL,           -- '' for every event type
    source TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, provider_type, event_type)
);

-- text is kept until content_expires_at (the app's content TTL), then set to NULL; the row
-- (ids, decisions) stays for the skip-reasons endpoint.
CREATE TABLE chat_messages (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    text TEXT,
    parent_id TEXT,
    mentioned TEXT NOT NULL,            -- JSON list of user ids
    attachments INTEGER NOT NULL,
    skip_push BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    content_expires_at DOUBLE PRECISION NOT NULL,
    decisions TEXT,                     -- JSON: every member with 'notified' or why not
    notification_ids TEXT,              -- JSON list, NULL until the pushes are accepted
    PRIMARY KEY (app_id, id)
);
CREATE INDEX chat_messages_by_channel ON chat_messages (app_id, channel_id, created_at);
CREATE INDEX chat_messages_content_expiry ON chat_messages (content_expires_at)
    WHERE text IS NOT NULL;

-- One per ID-only notification: the device fetches its content with the token (stored as
-- its SHA-256); the first fetch acknowledges the delivery.
CREATE TABLE chat_fetch_tokens (
    token_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    content TEXT,                       -- JSON of the rendered message, NULL once expired
    expires_at DOUBLE PRECISION NOT NULL,
    acknowledged_at DOUBLE PRECISION
);
CREATE INDEX chat_fetch_tokens_by_notification ON chat_fetch_tokens (notification_id);
CREATE INDEX chat_fetch_tokens_expiry ON chat_fetch_tokens (expires_at) WHERE content IS NOT NULL;
