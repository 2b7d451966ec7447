-- Hybrid download, PostgreSQL dialect of ../0002_hybrid.sql: per-distribution settings (JSON object
-- of api.Settings) and each client's mode with the reason and time of its latest change.

ALTER TABLE distributions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

ALTER TABLE assignments ADD COLUMN mode        TEXT   NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN mode_reason TEXT   NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN mode_at     BIGINT NOT NULL DEFAULT 0;
