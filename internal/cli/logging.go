package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogConfig selects the process log handler. The server commands bind it
// next to their component's Config.
type LogConfig struct {
	Level  string `flag:"log-level" help:"log level: debug, info, warn or error"`
	Format string `flag:"log-format" help:"log format: text or json"`
}

// DefaultLogConfig is info-level text logs.
func DefaultLogConfig() LogConfig { return LogConfig{Level: "info", Format: "text"} }

// newLogger builds the slog logger that writes to w (stderr in production).
func newLogger(cfg LogConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(cfg.Level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(strings.TrimSpace(cfg.Format)) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", cfg.Format)
}
