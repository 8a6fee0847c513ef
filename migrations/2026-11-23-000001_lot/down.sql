DROP TABLE slot_events;
DROP TABLE parking_sessions;
DROP TABLE captures;
DROP TABLE slots;
DROP TABLE cameras;
