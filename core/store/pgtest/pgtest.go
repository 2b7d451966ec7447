// Package pgtest starts a private PostgreSQL cluster for a package's tests: initdb into a
// temporary directory, pg_ctl start on a free loopback port with its unix socket in the same
// directory, one new database per test, everything stopped and removed when the tests end.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and calls DSN(t) in each test that needs a database. The cluster starts at the first DSN call,
// so a run whose tests need none starts nothing. A package without that TestMain uses Private(t),
// a cluster of its own for one test. When PostgreSQL is not installed the tests skip
// and say why; DIST_PG_REQUIRED=1 turns that into a failure (CI installs it). Binaries are found
// in DIST_PG_BIN, on PATH, or in Debian's /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as
// root: under root the cluster runs as the user nobody, owning its directory.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// cluster is the package's one PostgreSQL server.
type cluster struct {
	dir string // temporary directory: data/, sock/, log
	bin string // directory of initdb, pg_ctl, postgres
	// durable keeps fsync and synchronous commits on (benchmarks that compare stores); tests
	// turn them off.
	durable bool
	port    int
	cred    *credential // nil: run as ourselves
	// admin is a connection to the maintenance database, for CREATE DATABASE.
	admin *sql.DB
}

var (
	once    sync.Once
	shared  *cluster
	skipWhy string // set when the cluster cannot start: the reason to skip
	dbSeq   atomic.Int64
)

// Main runs the tests of m and then stops and removes the cluster, if one was started.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN answers the URL of a new, empty database of the shared cluster, starting the cluster on the
// first call. It skips t when PostgreSQL is unavailable (fails it with DIST_PG_REQUIRED=1).
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		c, err := start()
		if err != nil {
			skipWhy = err.Error()
			return
		}
		shared = c
	})
	if shared == nil {
		if os.Getenv("DIST_PG_REQUIRED") == "1" {
			t.Fatalf("PostgreSQL is required (DIST_PG_REQUIRED=1) but did not start: %s", skipWhy)
		}
		t.Skipf("skipping: no PostgreSQL for tests: %s", skipWhy)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is ours and plain: no quoting needed.
	if _, err := shared.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	return shared.url(name)
}

// Private starts a cluster for t alone, stopped and removed when t ends, and answers the URL of
// a database in it: for a package without pgtest.Main, at the cost of a cluster start (seconds).
// It skips t, or fails it with DIST_PG_REQUIRED=1, when PostgreSQL is unavailable.
func Private(t testing.TB) string {
	t.Helper()
	c, err := start()
	if err != nil {
		if os.Getenv("DIST_PG_REQUIRED") == "1" {
			t.Fatalf("PostgreSQL is required (DIST_PG_REQUIRED=1) but did not start: %v", err)
		}
		t.Skipf("skipping: no PostgreSQL for tests: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE private"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return c.url("private")
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// findBin answers the directory holding initdb and pg_ctl.
func findBin() (string, error) {
	if d := os.Getenv("DIST_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("DIST_PG_BIN=%s holds no initdb", d)
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	// Debian keeps the server binaries off PATH, one directory per major version.
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int { return majorOf(b) - majorOf(a) }) // newest first
	if len(found) > 0 {
		return filepath.Dir(found[0]), nil
	}
	return "", errors.New("initdb not found on PATH nor in /usr/lib/postgresql/*/bin: install PostgreSQL (Debian: apt-get install postgresql) or set DIST_PG_BIN")
}

func majorOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// start creates and starts the cluster. Every step is bounded in time.
func start() (*cluster, error) { return startWith(false) }

func startWith(durable bool) (*cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cred.tempBase(), "dist-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	c := &cluster{dir: dir, bin: bin, cred: cred, durable: durable}
	if err := c.init(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// A free port can be taken between our probe and the server's bind: try a few.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err == nil {
			err = c.startServer()
		}
		if err == nil {
			break
		}
		if attempt == 2 {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	c.admin, err = sql.Open("pgx", c.url("postgres"))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = c.admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("connect to the test cluster: %w", err)
	}
	return c, nil
}

func (c *cluster) init() error {
	if err := os.Mkdir(filepath.Join(c.dir, "sock"), 0o700); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if err := c.cred.own(c.dir); err != nil {
		return err
	}
	// Trust on loopback only (the server listens nowhere else), C locale so that text orders
	// bytewise, no fsync: a test cluster is thrown away.
	out, err := c.run(2*time.Minute, "initdb", "-D", filepath.Join(c.dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out))
	}
	return nil
}

func (c *cluster) startServer() error {
	o := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(c.port),
		"-k " + filepath.Join(c.dir, "sock"),
		"-c max_connections=200",
	}
	if c.durable {
		o = append(o, "-c shared_buffers=256MB")
	} else {
		o = append(o, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c shared_buffers=32MB")
	}
	opts := strings.Join(o, " ")
	out, err := c.run(time.Minute, "pg_ctl", "start", "-w", "-t", "50", "-D", filepath.Join(c.dir, "data"),
		"-l", filepath.Join(c.dir, "log"), "-o", opts)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s %s", err, lastLines(out), lastLines(log))
	}
	return nil
}

// stop stops the server at once (nothing in it is worth a checkpoint) and removes the directory.
func (c *cluster) stop() error {
	if c.admin != nil {
		_ = c.admin.Close()
	}
	out, err := c.run(time.Minute, "pg_ctl", "stop", "-w", "-t", "50", "-m", "immediate", "-D", filepath.Join(c.dir, "data"))
	rmErr := os.RemoveAll(c.dir)
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, lastLines(out))
	}
	if rmErr != nil {
		return fmt.Errorf("remove test cluster: %w", rmErr)
	}
	return nil
}

// run runs one of the cluster's binaries as the cluster's user, in its directory.
func (c *cluster) run(limit time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGDATA="+filepath.Join(c.dir, "data"))
	c.cred.apply(cmd)
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lastLines keeps the end of a tool's output for an error message.
func lastLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return strings.Join(strings.Fields(s), " ")
}
