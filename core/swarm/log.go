package swarm

import (
	"context"
	"log/slog"
)

// anacrolix logs every connection and piece at info; only its warnings and errors are worth a
// daemon's log.
const libraryLogFloor = slog.LevelWarn

// floorHandler drops records below min before they reach h.
type floorHandler struct {
	h   slog.Handler
	min slog.Level
}

func (f floorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}

func (f floorHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < f.min {
		return nil
	}
	return f.h.Handle(ctx, r)
}

func (f floorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return floorHandler{h: f.h.WithAttrs(as), min: f.min}
}

func (f floorHandler) WithGroup(name string) slog.Handler {
	return floorHandler{h: f.h.WithGroup(name), min: f.min}
}
