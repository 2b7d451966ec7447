-- Origin policies and what survives a controller restart of their leases: the byte window's start,
-- the bytes spent in it (granted-but-unreported bytes counted as spent) and the back-off factor.
-- Times are unix milliseconds; a zero limit means none.

CREATE TABLE origins (
    origin       TEXT PRIMARY KEY,
    max_conns    INTEGER NOT NULL DEFAULT 0,
    max_rate     INTEGER NOT NULL DEFAULT 0,
    max_bytes    INTEGER NOT NULL DEFAULT 0,
    window_ms    INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL DEFAULT 0,
    spent        INTEGER NOT NULL DEFAULT 0,
    factor       REAL    NOT NULL DEFAULT 1,
    updated_at   INTEGER NOT NULL DEFAULT 0
) STRICT;
