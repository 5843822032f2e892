package agent

import (
	"log/slog"
	"net/http"
	"path"
)

// filesMount exposes sandboxes through /files: each sandbox under its real
// path and under the virtual /frameworks/<fid>/executors/<eid>/runs/latest.
type filesMount struct {
	log *slog.Logger
}

func newFilesMount(log *slog.Logger) filesMount { return filesMount{log: log} }

func (f filesMount) handler() http.Handler { return http.NotFoundHandler() }

func latestAlias(rec taskRecord) string {
	return path.Join("/frameworks", rec.FrameworkID, "executors", rec.ExecutorID, "runs", "latest")
}

func (a *Agent) attachSandbox(rec taskRecord) { _ = latestAlias(rec) }

func (a *Agent) detachSandbox(rec taskRecord) {}
