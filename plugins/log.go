package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogToSlog makes an hclog.Logger (what go-plugin logs to, plugin output included) that writes
// into log. hclog has no slog bridge, so hclog writes JSON lines and slogWriter turns each line
// back into a slog record with the same level, message and attributes.
func hclogToSlog(log *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Debug,
		JSONFormat: true,
		Output:     slogWriter{log},
	})
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimSpace(p), []byte("\n")) {
		w.line(line)
	}
	return len(p), nil
}

func (w slogWriter) line(line []byte) {
	if len(line) == 0 {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		w.log.Info(string(line))
		return
	}
	msg, _ := m["@message"].(string)
	lvl, _ := m["@level"].(string)
	mod, _ := m["@module"].(string)
	delete(m, "@message")
	delete(m, "@level")
	delete(m, "@module")
	delete(m, "@timestamp")
	delete(m, "@caller")
	attrs := make([]slog.Attr, 0, len(m)+1)
	if mod != "" {
		attrs = append(attrs, slog.String("plugin", mod))
	}
	for k, v := range m {
		attrs = append(attrs, slog.Any(k, v))
	}
	w.log.LogAttrs(context.Background(), slogLevel(lvl), msg, attrs...)
}

func slogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
