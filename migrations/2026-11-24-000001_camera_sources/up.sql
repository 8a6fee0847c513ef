-- Cameras say where their frames come from and hold a device token; captures say why they were kept.

ALTER TABLE cameras
    -- {"kind": "mjpeg", "url": ...} | {"kind": "snapshot", "url": ..., "interval_ms": ...} | {"kind": "push"}
    ADD COLUMN source JSONB NOT NULL DEFAULT '{"kind": "push"}',
    -- SHA-256 (hex) of the device token boards present when they push frames; the token itself is
    -- shown once, when it is made.
    ADD COLUMN token_sha256 TEXT CHECK (token_sha256 IS NULL OR token_sha256 ~ '^[0-9a-f]{64}$');

ALTER TABLE captures
    ADD COLUMN reason TEXT NOT NULL DEFAULT 'push' CHECK (reason IN ('push', 'interval', 'evidence'));
CREATE INDEX captures_camera_id_desc ON captures (camera_id, id DESC);
