package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Server is a private PostgreSQL cluster started outside a test (benchmarks, the fleet
// simulator): durable (fsync and synchronous commits on, as in production), one database.
type Server struct {
	c  *cluster
	db string
}

// Start starts a durable cluster in a temporary directory and creates database db in it.
func Start(db string) (*Server, error) {
	c, err := startWith(true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("create database %s: %w", db, err)
	}
	return &Server{c: c, db: db}, nil
}

// URL is the database's URL (trust on loopback: no password).
func (s *Server) URL() string { return s.c.url(s.db) }

// PID is the postmaster's process id, 0 when unknown: its CPU time counts the backends it
// reaped, and its children are the live backends.
func (s *Server) PID() int {
	b, err := os.ReadFile(filepath.Join(s.c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// Stop stops the cluster and removes its directory.
func (s *Server) Stop() error { return s.c.stop() }
