package api

// routes mounts the whole surface. App and group ids contain slashes, so
// their routes take the rest of the path ({rest...}) and the handler splits
// off suffixes such as /restart, /tasks and /versions (appPath, groupPath).
//
// Every /v2 path and /metrics is served by the leader: a standby proxies
// them (proxy.go), except GET /v2/leader, which any node answers. /ping is
// always answered locally.
func (a *API) routes() {
	m := a.mux

	// Apps.
	m.HandleFunc("GET /v2/apps", a.listApps)
	m.HandleFunc("POST /v2/apps", a.createApp)
	m.HandleFunc("PUT /v2/apps", a.updateApps(false))
	m.HandleFunc("PATCH /v2/apps", a.updateApps(true))
	// GET    /v2/apps/{id}                 app (embed=app.*); /v2/apps/{group}/* lists apps under a group
	// GET    /v2/apps/{id}/tasks           tasks (JSON or text/plain)
	// GET    /v2/apps/{id}/versions[/{v}]  versions, or the app at version v
	m.HandleFunc("GET /v2/apps/{rest...}", a.getAppPath)
	// PUT, PATCH /v2/apps/{id}
	m.HandleFunc("PUT /v2/apps/{rest...}", a.updateApp(false))
	m.HandleFunc("PATCH /v2/apps/{rest...}", a.updateApp(true))
	// DELETE /v2/apps/{id}, /v2/apps/{id}/tasks, /v2/apps/{id}/tasks/{taskId}
	m.HandleFunc("DELETE /v2/apps/{rest...}", a.deleteAppPath)
	// POST   /v2/apps/{id}/restart
	m.HandleFunc("POST /v2/apps/{rest...}", a.postAppPath)

	// Groups ("" or "/" is the root group).
	m.HandleFunc("GET /v2/groups", a.getGroupPath)
	m.HandleFunc("GET /v2/groups/{rest...}", a.getGroupPath) // also /v2/groups/{id}/versions
	m.HandleFunc("POST /v2/groups", a.createGroup)
	m.HandleFunc("POST /v2/groups/{rest...}", a.createGroup)
	m.HandleFunc("PUT /v2/groups", a.updateGroup(false))
	m.HandleFunc("PUT /v2/groups/{rest...}", a.updateGroup(false))
	m.HandleFunc("PATCH /v2/groups", a.updateGroup(true))
	m.HandleFunc("PATCH /v2/groups/{rest...}", a.updateGroup(true))
	m.HandleFunc("DELETE /v2/groups", a.deleteGroup)
	m.HandleFunc("DELETE /v2/groups/{rest...}", a.deleteGroup)

	// Deployments.
	m.HandleFunc("GET /v2/deployments", a.listDeployments)
	m.HandleFunc("DELETE /v2/deployments/{id}", a.cancelDeployment)

	// Tasks.
	m.HandleFunc("GET /v2/tasks", a.listTasks)
	m.HandleFunc("POST /v2/tasks/delete", a.deleteTasks)

	// Launch queue.
	m.HandleFunc("GET /v2/queue", a.listQueue)
	m.HandleFunc("DELETE /v2/queue/{rest...}", a.resetDelay) // /v2/queue/{appId}/delay

	// Events, info, leader.
	m.HandleFunc("GET /v2/events", a.events)
	m.HandleFunc("GET /v2/info", a.info)
	m.HandleFunc("GET /v2/leader", a.leader)
	m.HandleFunc("DELETE /v2/leader", a.abdicate)

	// Pods are not supported: listings are empty, everything else says so.
	m.HandleFunc("GET /v2/pods", a.emptyList)
	m.HandleFunc("GET /v2/pods/{$}", a.emptyList)
	m.HandleFunc("GET /v2/pods/{rest...}", a.pods)
	m.HandleFunc("/v2/pods", a.pods)
	m.HandleFunc("/v2/pods/{rest...}", a.pods)
	m.HandleFunc("GET /v2/plugins", a.plugins)

	// Process endpoints.
	m.HandleFunc("GET /ping", a.ping)
	m.HandleFunc("GET /metrics", a.metrics)
	m.HandleFunc("GET /metrics/prometheus", a.metricsPrometheus)
}
