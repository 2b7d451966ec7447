-- Hybrid download: per-distribution settings (JSON object of api.Settings) and each client's mode
-- (bt, assisting, http-main) with the reason and time of its latest change.

ALTER TABLE distributions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

ALTER TABLE assignments ADD COLUMN mode        TEXT    NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN mode_reason TEXT    NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN mode_at     INTEGER NOT NULL DEFAULT 0;
