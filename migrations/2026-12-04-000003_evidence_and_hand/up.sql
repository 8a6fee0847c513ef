-- Who set each space's current state (manual, sensor, detector, camera) and, for a person or a
-- token, which: a correction by hand holds against the detector, and the API says who made it.
ALTER TABLE slots ADD COLUMN source TEXT, ADD COLUMN actor TEXT;
UPDATE slots s SET source = e.source, actor = e.actor
FROM (SELECT DISTINCT ON (slot_id) slot_id, source, actor FROM slot_events ORDER BY slot_id, at DESC, id DESC) e
WHERE e.slot_id = s.id;

-- Every capture foreign key is indexed: deleting a capture looks these up, and without an index
-- each delete scans the whole table.
CREATE INDEX slot_events_capture ON slot_events (capture_id) WHERE capture_id IS NOT NULL;
CREATE INDEX parking_sessions_entry_capture ON parking_sessions (entry_capture_id) WHERE entry_capture_id IS NOT NULL;
CREATE INDEX parking_sessions_exit_capture ON parking_sessions (exit_capture_id) WHERE exit_capture_id IS NOT NULL;
