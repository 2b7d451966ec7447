-- The whole lease state of an origin, for controllers that share their database (a JSON document
-- the controller writes under the row's lock). One controller on SQLite keeps it in memory and
-- leaves this empty; the column is here so that both dialects have the same schema.

ALTER TABLE origins ADD COLUMN state TEXT NOT NULL DEFAULT '';
