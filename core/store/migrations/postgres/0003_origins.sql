-- Origin policies and their lease state, PostgreSQL dialect of ../0003_origins.sql. Times are unix
-- milliseconds; a zero limit means none.

CREATE TABLE origins (
    origin       TEXT COLLATE "C" PRIMARY KEY,
    max_conns    BIGINT           NOT NULL DEFAULT 0,
    max_rate     BIGINT           NOT NULL DEFAULT 0,
    max_bytes    BIGINT           NOT NULL DEFAULT 0,
    window_ms    BIGINT           NOT NULL DEFAULT 0,
    window_start BIGINT           NOT NULL DEFAULT 0,
    spent        BIGINT           NOT NULL DEFAULT 0,
    factor       DOUBLE PRECISION NOT NULL DEFAULT 1,
    updated_at   BIGINT           NOT NULL DEFAULT 0
);
