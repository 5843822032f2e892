// Package api serves Marathon's /v2 REST API (apps, groups, tasks,
// deployments, queue, events, info, leader) plus /ping and /metrics over
// HTTP, on top of the Marathon core (*marathon.Marathon, through Backend).
//
// Handlers decode the request, convert it to the core's requests, call the
// core and convert the answer back to the wire types of pkg/marathon; errors
// are translated to Marathon's bodies in one table (errors.go). A node that
// does not lead proxies the API to the leader.
//
// It must not hold Marathon state or make scheduling decisions: definitions
// are decoded and validated by internal/marathon/appdef, trees are edited by
// internal/marathon/deploy, and everything else is the core's.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// Backend is what the API needs from the Marathon core.
type Backend interface {
	// Snapshot is the latest published state (read-only).
	Snapshot() *marathon.Snapshot
	Update(ctx context.Context, req marathon.UpdateRequest) (marathon.UpdateResult, error)
	KillTasks(ctx context.Context, req marathon.KillRequest) (marathon.KillResult, error)
	CancelDeployment(ctx context.Context, id string, force bool) (*v2.DeploymentResult, error)
	ResetDelay(ctx context.Context, id string) error
	AppVersions(ctx context.Context, id string) ([]string, error)
	AppVersion(ctx context.Context, id, version string) (v2.App, error)
	GroupVersions(ctx context.Context, id string) ([]string, error)
	Abdicate(ctx context.Context) error
	Info() v2.Info
	Metrics() map[string]any
	Subscribe(ctx context.Context) <-chan v2.Event
	IsLeader() bool
	// Leader is the leader's API address (host:port), "" when none is known.
	Leader() string
}

// The core must keep satisfying Backend.
var _ Backend = (*marathon.Marathon)(nil)

// Default option values.
const (
	DefaultMaxBodyBytes = 10 << 20
	DefaultKeepAlive    = 15 * time.Second
)

// Options configure the API.
type Options struct {
	// AppDef are the settings definitions are validated with.
	AppDef appdef.Options
	// HTTPClient's Transport carries requests proxied to the leader (nil:
	// http.DefaultTransport).
	HTTPClient *http.Client
	// LeaderScheme is how requests are proxied to the leader: "http" (the
	// default) or "https" (the leader's port also speaks TLS; HTTPClient
	// then verifies it). X-Marathon-Leader keeps naming the leader's http
	// URL, the one users call.
	LeaderScheme string
	// MaxBodyBytes bounds request bodies (0: DefaultMaxBodyBytes); larger
	// ones are answered 413.
	MaxBodyBytes int64
	// KeepAlive is the period of the comment lines that keep an idle event
	// stream open (0: DefaultKeepAlive).
	KeepAlive time.Duration
	// Self is this node's API address (host:port), sent as X-Marathon-Via
	// on proxied responses and used to detect proxy loops. May be "".
	Self string
}

// API is the Marathon HTTP API.
type API struct {
	b    Backend
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// New builds the API over b. It does no I/O and starts no goroutines. A nil
// logger discards.
func New(b Backend, opts Options, logger *slog.Logger) *API {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &API{b: b, opts: opts, log: logger.With("component", "marathon-api"), mux: http.NewServeMux()}
	a.routes()
	return a
}

// Handler serves the whole surface (see routes.go), proxying to the leader
// on a standby.
func (a *API) Handler() http.Handler { return http.HandlerFunc(a.serve) }
