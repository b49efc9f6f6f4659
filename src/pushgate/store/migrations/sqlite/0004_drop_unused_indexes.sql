-- No query reads these; every insert and state change paid to maintain them (bench/ingest:
-- the writer thread was the bottleneck). The outbox is paged by delivery id (the rowid).
DROP INDEX deliveries_pending;
DROP INDEX notifications_by_app;
