-- Lifecycle of a distribution, PostgreSQL dialect of ../0004_lifecycle.sql: a deadline (unix ms,
-- 0 = none) and a priority (higher goes first).

ALTER TABLE distributions ADD COLUMN deadline BIGINT NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
