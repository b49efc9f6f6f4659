-- The one `environment` column held the APNs environment of APNs rows and the FCM credential
-- name of FCM rows: two named columns now. APNs rows keep their value in apns_environment,
-- FCM rows move theirs to fcm_credential; Web Push rows had none.
ALTER TABLE devices RENAME COLUMN environment TO apns_environment;
ALTER TABLE devices ADD COLUMN fcm_credential TEXT;
UPDATE devices SET fcm_credential = apns_environment WHERE platform = 'fcm';
UPDATE devices SET apns_environment = NULL WHERE platform <> 'apns';
ALTER TABLE deliveries RENAME COLUMN environment TO apns_environment;
ALTER TABLE deliveries ADD COLUMN fcm_credential TEXT;
UPDATE deliveries SET fcm_credential = apns_environment WHERE platform = 'fcm';
UPDATE deliveries SET apns_environment = NULL WHERE platform <> 'apns';
