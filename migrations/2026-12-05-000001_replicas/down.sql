ALTER TABLE slots DROP COLUMN version;
DROP TABLE leases;
DROP TABLE replicas;
