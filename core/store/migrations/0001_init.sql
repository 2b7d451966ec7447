-- Initial schema. Times are unix milliseconds (0 = not set); JSON columns hold
-- arrays or objects, never NULL.

CREATE TABLE hosts (
    name      TEXT PRIMARY KEY,
    labels    TEXT    NOT NULL DEFAULT '{}',
    roles     TEXT    NOT NULL DEFAULT '[]',
    http_url  TEXT    NOT NULL DEFAULT '',
    bt_addr   TEXT    NOT NULL DEFAULT '',
    version   TEXT    NOT NULL DEFAULT '',
    last_seen INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE distributions (
    id           TEXT PRIMARY KEY,
    name         TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    size         INTEGER NOT NULL DEFAULT 0,
    piece_length INTEGER NOT NULL DEFAULT 0,
    info_hash    TEXT    NOT NULL DEFAULT '',
    sha256       TEXT    NOT NULL DEFAULT '',
    dest         TEXT    NOT NULL DEFAULT '',
    publisher    TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL,
    selectors    TEXT    NOT NULL DEFAULT '[]',
    metainfo     BLOB,
    created_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX distributions_created_at ON distributions (created_at);

CREATE TABLE assignments (
    id                TEXT PRIMARY KEY,
    dist_id           TEXT    NOT NULL REFERENCES distributions (id) ON DELETE CASCADE,
    host              TEXT    NOT NULL,
    role              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    have              INTEGER NOT NULL DEFAULT 0,
    bytes_bt          INTEGER NOT NULL DEFAULT 0,
    bytes_http_relay  INTEGER NOT NULL DEFAULT 0,
    bytes_http_origin INTEGER NOT NULL DEFAULT 0,
    bytes_up          INTEGER NOT NULL DEFAULT 0,
    peers             INTEGER NOT NULL DEFAULT 0,
    error             TEXT    NOT NULL DEFAULT '',
    first_byte_at     INTEGER NOT NULL DEFAULT 0,
    done_at           INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX assignments_host ON assignments (host);
CREATE INDEX assignments_dist_id ON assignments (dist_id);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    dist_id TEXT    NOT NULL DEFAULT '',
    host    TEXT    NOT NULL DEFAULT '',
    kind    TEXT    NOT NULL,
    msg     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_dist_id ON events (dist_id, id);
