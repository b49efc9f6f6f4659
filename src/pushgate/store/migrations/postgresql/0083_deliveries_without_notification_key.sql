-- An accept writes a notification and its deliveries in one statement, so the foreign key
-- from deliveries to their notification checked what cannot go wrong, at a price: its
-- trigger looked up and locked the notification once per delivery, 23 of the 75 ms of a
-- 1,000-delivery accept (EXPLAIN ANALYZE). What deletes notifications (retention, deleting
-- an app) now deletes their deliveries in the same statement. (Numbered above 0082, which
-- landed first; IF EXISTS for a database that ran it as 0061 or 0081.)
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_notification_id_fkey;
