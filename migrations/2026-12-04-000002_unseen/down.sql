ALTER TABLE slot_events DROP COLUMN reason;
