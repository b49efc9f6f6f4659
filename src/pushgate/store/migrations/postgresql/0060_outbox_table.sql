-- The leases move out of deliveries into a narrow table that holds exactly the pending
-- deliveries. A claim or a renewal then rewrites a small row with two small index entries
-- instead of a whole delivery with three, and a delivery's final update changes no indexed
-- column (no partial index on state any more), so it is a HOT update that writes no index
-- entry; the fillfactor leaves room on each page for that new row version.
CREATE TABLE outbox (
    id BIGINT PRIMARY KEY,          -- deliveries.id; the row goes when its result is final
    lease_owner TEXT,               -- the dispatcher holding it until claimable_at
    claimable_at DOUBLE PRECISION NOT NULL
);
INSERT INTO outbox (id, lease_owner, claimable_at)
    SELECT id, lease_owner, claimable_at FROM deliveries WHERE state = 'pending';
CREATE INDEX outbox_claimable ON outbox (claimable_at, id);
DROP INDEX deliveries_claimable;
ALTER TABLE deliveries DROP COLUMN lease_owner, DROP COLUMN claimable_at;
ALTER TABLE deliveries SET (fillfactor = 50);
