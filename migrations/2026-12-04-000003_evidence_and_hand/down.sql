DROP INDEX parking_sessions_exit_capture;
DROP INDEX parking_sessions_entry_capture;
DROP INDEX slot_events_capture;
ALTER TABLE slots DROP COLUMN actor, DROP COLUMN source;
