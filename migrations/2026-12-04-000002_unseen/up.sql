-- Why a change was made when the source alone does not say: a camera that went dark.
ALTER TABLE slot_events ADD COLUMN reason TEXT;
