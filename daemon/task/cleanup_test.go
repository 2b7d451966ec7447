package task

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"dist/core/api"
)

// A task that fails leaves no partial data behind, at once and without waiting for the
// controller to drop it; a daemon that stops keeps it for the restart.
func TestFailedTaskLeavesNoPartialData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail bool
		keep bool
	}{{"failed", true, false}, {"daemon stops", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Port 1 on loopback refuses at once: the peers loop asks nobody.
			env := &Env{Name: "h", Data: t.TempDir(), API: api.New("http://127.0.0.1:1", "x"), Log: slog.New(slog.DiscardHandler)}
			tk := New(env, api.Task{ID: "d1/h/client", DistID: "d1", Role: api.RoleClient})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tk.Run(ctx, func(ctx context.Context, tk *Task) error {
				if err := os.MkdirAll(tk.Dir(), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(tk.Dir(), "data.part"), []byte("partial"), 0o644); err != nil {
					return err
				}
				if tc.fail {
					return errors.New("origin answered 404")
				}
				cancel() // the daemon stops
				<-ctx.Done()
				return nil
			})
			_, err := os.Stat(filepath.Join(tk.Dir(), "data.part"))
			if kept := err == nil; kept != tc.keep {
				t.Fatalf("partial file kept = %v (%v), want %v", kept, err, tc.keep)
			}
			if tc.fail && tk.Report().State != api.TaskFailed {
				t.Fatalf("state %s, want failed", tk.Report().State)
			}
		})
	}
}
