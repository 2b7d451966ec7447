-- Progress samples: the counters of one assignment at one time, kept for reports (speed over
-- time, per site) and for the relay policy's history. Times are unix milliseconds.

CREATE TABLE samples (
    dist_id           TEXT    NOT NULL REFERENCES distributions (id) ON DELETE CASCADE,
    host              TEXT    NOT NULL,
    role              TEXT    NOT NULL,
    at                INTEGER NOT NULL,
    state             TEXT    NOT NULL DEFAULT '',
    have              INTEGER NOT NULL DEFAULT 0,
    bytes_bt          INTEGER NOT NULL DEFAULT 0,
    bytes_http_relay  INTEGER NOT NULL DEFAULT 0,
    bytes_http_origin INTEGER NOT NULL DEFAULT 0,
    bytes_up          INTEGER NOT NULL DEFAULT 0,
    peers             INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX samples_dist_at ON samples (dist_id, at);
