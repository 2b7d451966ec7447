-- Host trust: operators' approvals of joined hosts, revoked host certificates, and the fleet's
-- CA when controllers share one database. trust_epoch moves on with every change of the first
-- two, so a controller notices another's change by reading one row (none yet: epoch 0). Times are unix milliseconds.

CREATE TABLE host_approvals (
    name  TEXT    PRIMARY KEY,
    state TEXT    NOT NULL, -- pending, approved or denied
    at    INTEGER NOT NULL,
    decided_by TEXT NOT NULL DEFAULT ''
) STRICT;

-- serial '' revokes every certificate of host issued before revoked_at.
CREATE TABLE revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    host       TEXT    NOT NULL,
    serial     TEXT    NOT NULL DEFAULT '',
    revoked_at INTEGER NOT NULL,
    revoked_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE trust_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;

-- The CA certificate and its key (PEM): one row, the first controller to start writes it.
CREATE TABLE fleet_ca (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    cert       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
