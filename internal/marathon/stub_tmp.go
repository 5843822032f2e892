package marathon

import (
	"context"
	"errors"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// TEMPORARY: replaced by the loop implementation.

type loop struct{}

func (l *loop) call(ctx context.Context, fn func(*loop) error) error { return fn(l) }
func (l *loop) update(req UpdateRequest) (UpdateResult, error) {
	return UpdateResult{}, errors.New("todo")
}
func (l *loop) killTasks(req KillRequest) (KillResult, error) {
	return KillResult{}, errors.New("todo")
}
func (l *loop) cancelDeployment(id string, force bool) (*v2.DeploymentResult, error) {
	return nil, errors.New("todo")
}
func (l *loop) resetDelay(id string) error        { return errors.New("todo") }
func (m *Marathon) run(ctx context.Context) error { <-ctx.Done(); return nil }
func emptyRoot() deploy.Root {
	return deploy.Root{Apps: map[string]v2.App{}, Groups: map[string]deploy.GroupMeta{}}
}

// AppVersions lists the stored versions of app id, newest first.
func (m *Marathon) AppVersions(ctx context.Context, id string) ([]string, error) {
	return nil, errors.New("todo")
}

// AppVersion returns app id at version.
func (m *Marathon) AppVersion(ctx context.Context, id, version string) (v2.App, error) {
	return v2.App{}, errors.New("todo")
}

// GroupVersions lists the versions of group id, newest first.
func (m *Marathon) GroupVersions(ctx context.Context, id string) ([]string, error) {
	return nil, errors.New("todo")
}

// Abdicate gives up leadership (DELETE /v2/leader).
func (m *Marathon) Abdicate(ctx context.Context) error { return errors.New("todo") }

// Info is GET /v2/info.
func (m *Marathon) Info() v2.Info { return v2.Info{} }

// Metrics returns counters and gauges for /metrics (Dropwizard-like JSON).
func (m *Marathon) Metrics() map[string]any { return nil }
