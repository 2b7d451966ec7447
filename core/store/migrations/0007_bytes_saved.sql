-- Bytes saved: what a target wrote itself (all-zero pieces) or kept from the older version at its
-- destination instead of fetching it, and the path of that older version when it is elsewhere
-- (push --base; empty: the destination itself).

ALTER TABLE assignments ADD COLUMN bytes_zero INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN bytes_kept INTEGER NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN base TEXT NOT NULL DEFAULT '';
