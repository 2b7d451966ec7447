-- Lifecycle of a distribution: a deadline (unix ms, 0 = none) after which unfinished targets
-- fail and the distribution ends as partial (or failed), and a priority (higher goes first).

ALTER TABLE distributions ADD COLUMN deadline INTEGER NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
