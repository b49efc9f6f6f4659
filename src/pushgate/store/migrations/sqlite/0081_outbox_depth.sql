-- Undelivered deliveries per app ('' for all apps together), kept by the outbox's accept and
-- result writes: the API checks its bound without counting rows.
CREATE TABLE outbox_depth (
    app_id TEXT PRIMARY KEY,
    pending INTEGER NOT NULL
);
INSERT INTO outbox_depth (app_id, pending)
    SELECT app_id, count(*) FROM deliveries WHERE state = 'pending' GROUP BY app_id;
INSERT INTO outbox_depth (app_id, pending)
    SELECT '', count(*) FROM deliveries WHERE state = 'pending';
