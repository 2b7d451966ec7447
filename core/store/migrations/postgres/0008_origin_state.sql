-- The whole lease state of an origin, PostgreSQL dialect of ../0008_origin_state.sql: a JSON
-- document each controller reads, changes and writes back under the row's lock (SELECT … FOR
-- UPDATE), so that origin caps hold for the whole fleet. TEXT rather than JSONB: the document is
-- opaque to the database and is copied as is from SQLite.

ALTER TABLE origins ADD COLUMN state TEXT NOT NULL DEFAULT '';
