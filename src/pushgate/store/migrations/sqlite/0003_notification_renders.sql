-- Per-platform renders made (and checked) at accept time, JSON: sending needs no re-render.
ALTER TABLE notifications ADD COLUMN renders TEXT;
