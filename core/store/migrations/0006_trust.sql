-- Trust: named operator tokens, kept as the SHA-256 of their secret (the secret itself is shown
-- once, at creation), and the audit trail of every operator and admin action. Times are unix
-- milliseconds; expires_at 0 means the token does not expire.

CREATE TABLE tokens (
    name       TEXT    PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0,
    created_by TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    who    TEXT    NOT NULL,
    role   TEXT    NOT NULL DEFAULT '',
    action TEXT    NOT NULL,
    target TEXT    NOT NULL DEFAULT '',
    remote TEXT    NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    result TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_at ON audit (at);
