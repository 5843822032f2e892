package agent

import "path"

// latestAlias is the virtual /files path of a task's latest run, as Mesos
// publishes it: /frameworks/<fid>/executors/<eid>/runs/latest.
func latestAlias(rec taskRecord) string {
	return path.Join("/frameworks", rec.FrameworkID, "executors", rec.ExecutorID, "runs", "latest")
}

// attachSandbox publishes a sandbox through /files under its real path and
// its latest-run alias. The sandbox stays readable after the task ends,
// until it is garbage collected.
func (a *Agent) attachSandbox(rec taskRecord) {
	for _, v := range []string{rec.Sandbox, latestAlias(rec)} {
		if err := a.files.Attach(v, rec.Sandbox); err != nil {
			a.log.Warn("attach sandbox to /files", "virtual_path", v, "error", err)
		}
	}
}

// detachSandbox withdraws a sandbox from /files. The alias is withdrawn
// only if it still points at this sandbox.
func (a *Agent) detachSandbox(rec taskRecord) {
	a.files.Detach(rec.Sandbox)
	if a.files.Attached()[latestAlias(rec)] == rec.Sandbox {
		a.files.Detach(latestAlias(rec))
	}
}
