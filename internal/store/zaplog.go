package store

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger (the only kind etcd and its client accept) that forwards
// warnings and errors to l. etcd logs a great deal at info level; none of it is a Basalt
// lifecycle transition, so it is dropped.
//
// quiet, once set, demotes everything to debug: while a Store shuts down, etcd reports its
// closed listeners and unreachable peers as errors, which need no human.
func newZapLogger(l *slog.Logger, quiet *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{l: l, min: zapcore.WarnLevel, quiet: quiet})
}

// benign reports etcd warnings that are expected in Basalt's setup (plain-HTTP
// loopback members, simple auth tokens, the client retrying while a leader is elected):
// logged at debug, since our own errors report what matters.
func benign(msg string) bool {
	for _, m := range [...]string{
		"Running http and grpc server on single port",
		"check file permission",
		"simple token is not cryptographically signed",
		"retrying of unary invoker failed",
		"Failed to detect schema version",
		"failed to update storage version", // a new member, before its first raft term
		// Per-request detail etcd attaches to requests it deems notable;
		// slow applies and fsyncs are still reported by their own warnings.
		"request stats",
	} {
		if strings.HasPrefix(msg, m) {
			return true
		}
	}
	return false
}

// slogCore is a zapcore.Core writing to a *slog.Logger.
type slogCore struct {
	l     *slog.Logger
	min   zapcore.Level
	quiet *atomic.Bool
	attrs []slog.Attr
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), fieldAttrs(fs)...)
	return &n
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	level := slog.LevelError
	switch {
	case e.Level < zapcore.InfoLevel:
		level = slog.LevelDebug
	case e.Level < zapcore.WarnLevel:
		level = slog.LevelInfo
	case e.Level < zapcore.ErrorLevel:
		level = slog.LevelWarn
	}
	if c.quiet != nil && c.quiet.Load() {
		level = slog.LevelDebug
	}
	if benign(e.Message) {
		level = slog.LevelDebug
	}
	if !c.l.Enabled(context.Background(), level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(c.attrs)+len(fs)+1)
	attrs = append(attrs, slog.String("source", "etcd"))
	attrs = append(attrs, c.attrs...)
	attrs = append(attrs, fieldAttrs(fs)...)
	c.l.LogAttrs(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// fieldAttrs converts zap fields to slog attributes, renaming etcd's kebab-case keys to
// our snake_case.
func fieldAttrs(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		v := enc.Fields[k]
		key := strings.ReplaceAll(k, "-", "_")
		switch v := v.(type) {
		case string:
			out = append(out, slog.String(key, v))
		case error:
			out = append(out, slog.String(key, v.Error()))
		case fmt.Stringer:
			out = append(out, slog.String(key, v.String()))
		default:
			out = append(out, slog.Any(key, v))
		}
	}
	return out
}
