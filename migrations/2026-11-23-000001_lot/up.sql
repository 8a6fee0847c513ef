-- The lot: cameras, their spaces, and every stay and state change in those spaces.

CREATE TABLE cameras (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE slots (
    id          BIGSERIAL PRIMARY KEY,
    camera_id   TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    -- [[x, y], ...] in the pixel coordinates of the camera's frame
    polygon     JSONB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'unknown' CHECK (state IN ('free', 'occupied', 'unknown')),
    since       TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (camera_id, label)
);

-- Images kept as evidence; filled by the cameras work.
CREATE TABLE captures (
    id            BIGSERIAL PRIMARY KEY,
    camera_id     TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    storage_key   TEXT NOT NULL UNIQUE,
    taken_at      TIMESTAMPTZ NOT NULL,
    size_bytes    BIGINT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    sha256        TEXT NOT NULL
);
CREATE INDEX captures_camera_time ON captures (camera_id, taken_at);

CREATE TABLE parking_sessions (
    id                BIGSERIAL PRIMARY KEY,
    slot_id           BIGINT NOT NULL REFERENCES slots (id) ON DELETE CASCADE,
    started_at        TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ,
    -- what opened and what closed the stay: manual, sensor, detector, ...
    source            TEXT NOT NULL,
    end_source        TEXT,
    entry_capture_id  BIGINT REFERENCES captures (id) ON DELETE SET NULL,
    exit_capture_id   BIGINT REFERENCES captures (id) ON DELETE SET NULL,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- A space holds at most one car at a time: one open stay per slot, enforced by the database.
CREATE UNIQUE INDEX parking_sessions_one_open ON parking_sessions (slot_id) WHERE ended_at IS NULL;
CREATE INDEX parking_sessions_started ON parking_sessions (started_at DESC, id DESC);
CREATE INDEX parking_sessions_slot_started ON parking_sessions (slot_id, started_at DESC, id DESC);

CREATE TABLE slot_events (
    id          BIGSERIAL PRIMARY KEY,
    slot_id     BIGINT NOT NULL REFERENCES slots (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    from_state  TEXT NOT NULL CHECK (from_state IN ('free', 'occupied', 'unknown')),
    to_state    TEXT NOT NULL CHECK (to_state IN ('free', 'occupied', 'unknown')),
    source      TEXT NOT NULL,
    confidence  REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
    capture_id  BIGINT REFERENCES captures (id) ON DELETE SET NULL
);
CREATE INDEX slot_events_slot_at ON slot_events (slot_id, at);
