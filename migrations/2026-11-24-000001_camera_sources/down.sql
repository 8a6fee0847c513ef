DROP INDEX captures_camera_id_desc;
ALTER TABLE captures DROP COLUMN reason;
ALTER TABLE cameras DROP COLUMN token_sha256, DROP COLUMN source;
