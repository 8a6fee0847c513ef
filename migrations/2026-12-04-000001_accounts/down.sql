ALTER TABLE parking_sessions DROP COLUMN started_by, DROP COLUMN ended_by;
ALTER TABLE slot_events DROP COLUMN actor;
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE auth_sessions;
DROP TABLE users;
