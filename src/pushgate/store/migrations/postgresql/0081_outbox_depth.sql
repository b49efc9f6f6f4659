-- Undelivered deliveries per app ('' for all apps together), kept by the outbox's accept and
-- result writes: the API checks its bound without counting rows. Each connection adds to
-- its own shard (backend pid modulo 16), so concurrent writers rarely wait on one row; the
-- depth is the sum over the shards.
CREATE TABLE outbox_depth (
    app_id TEXT NOT NULL,
    shard INTEGER NOT NULL,
    pending BIGINT NOT NULL,
    PRIMARY KEY (app_id, shard)
);
INSERT INTO outbox_depth (app_id, shard, pending)
    SELECT app_id, 0, count(*) FROM deliveries WHERE state = 'pending' GROUP BY app_id;
INSERT INTO outbox_depth (app_id, shard, pending)
    SELECT '', 0, count(*) FROM deliveries WHERE state = 'pending';
