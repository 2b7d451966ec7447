-- Bytes saved, PostgreSQL dialect of ../0007_bytes_saved.sql: what a target wrote itself (all-zero
-- pieces) or kept from the older version at its destination instead of fetching it, and the path
-- of that older version when it is elsewhere (push --base; empty: the destination itself).

ALTER TABLE assignments ADD COLUMN bytes_zero BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN bytes_kept BIGINT NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN base TEXT NOT NULL DEFAULT '';
