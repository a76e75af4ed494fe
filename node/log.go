package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

const maxLogSize = 10 << 20

// openLog makes the node's logger: text to stderr, JSON to logs/shoal.log
// (rotated once to shoal.log.1 past 10 MiB), and info and above to the event
// bus for the live event log.
func openLog(dataDir, level string, stderr io.Writer, bus *Bus) (*slog.Logger, io.Closer, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("node: log level %q: %w", level, err)
	}
	dir := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("node: logs: %w", err)
	}
	path := filepath.Join(dir, "shoal.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("node: logs: %w", err)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	opts := &slog.HandlerOptions{Level: lv}
	h := slog.NewMultiHandler(
		slog.NewTextHandler(stderr, opts),
		slog.NewJSONHandler(f, opts),
		&busHandler{bus: bus, level: max(lv, slog.LevelInfo)},
	)
	return slog.New(h), f, nil
}

// LogEntry is the data of an EventLog event.
type LogEntry struct {
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Attrs   map[string]any `json:"attrs,omitempty"`
}

type busHandler struct {
	bus   *Bus
	level slog.Level
	attrs []slog.Attr
	group string
}

func (h *busHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *busHandler) Handle(_ context.Context, r slog.Record) error {
	e := LogEntry{Level: r.Level.String(), Message: r.Message}
	add := func(a slog.Attr) bool {
		if e.Attrs == nil {
			e.Attrs = map[string]any{}
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		e.Attrs[key] = a.Value.Resolve().String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.bus.Publish(EventLog, e)
	return nil
}

func (h *busHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *busHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
