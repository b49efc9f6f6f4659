-- Platform data a delivery needs beyond its token (Web Push subscription keys).
ALTER TABLE deliveries ADD COLUMN extra TEXT;
