-- Several replicas share one database. Each is a row here while it lives (renewed with its
-- leases); `leaving` is set by `smartpark cluster leave` (a pod's preStop) so its cameras are
-- handed over before it stops.
CREATE TABLE replicas (
    node TEXT PRIMARY KEY,
    advertise_url TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    leaving BOOLEAN NOT NULL DEFAULT false
);

-- Who runs what: `camera:<id>` for each camera, `jobs` for the periodic jobs that must run once.
-- `epoch` goes up with every change of holder; a write made because a replica owns a camera
-- names the epoch it holds, and is refused once it is not the current one (fencing). `status`
-- is the owner's view of the camera (health, figures) for the other replicas.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status JSONB
);

-- A change of a space is a compare-and-set on its version, whichever replica makes it.
ALTER TABLE slots ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
