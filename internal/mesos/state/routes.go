package state

import "net/http"

// Register mounts the whole read-side surface on mux. On a Mesos master,
// libprocess delegates unknown top-level paths to the master process, so
// /state is /master/state; the deprecated .json aliases are still served
// because old tools use them (reference §1.7, §11.5).
//
// GET  /master/state          /state  /master/state.json  /state.json   ?jsonp=
// GET  /master/state-summary  /state-summary
// GET  /master/slaves         /slaves                        ?slave_id=
// GET  /master/frameworks     /frameworks                    ?framework_id=
// GET  /master/tasks          /tasks  /master/tasks.json  /tasks.json
//
//	?limit=100&offset=0&order=desc&framework_id=&task_id=
//
// GET  /master/roles          /roles  /master/roles.json  /roles.json
// GET  /master/flags          /flags
// GET  /master/health         /health                        200, empty body
// GET  /version
// GET  /metrics/snapshot
// POST /api/v1                /master/api/v1                 v1 operator API (JSON)
// POST /master/teardown       /teardown                      form: frameworkId=
//
// Every GET endpoint but health accepts ?jsonp=callback.
func (a *API) Register(mux *http.ServeMux) {
	get := func(h http.HandlerFunc, paths ...string) {
		for _, p := range paths {
			mux.HandleFunc("GET "+p, h)
		}
	}
	get(a.handleState, "/master/state", "/state", "/master/state.json", "/state.json")
	get(a.handleSummary, "/master/state-summary", "/state-summary")
	get(a.handleSlaves, "/master/slaves", "/slaves")
	get(a.handleFrameworks, "/master/frameworks", "/frameworks")
	get(a.handleTasks, "/master/tasks", "/tasks", "/master/tasks.json", "/tasks.json")
	get(a.handleRoles, "/master/roles", "/roles", "/master/roles.json", "/roles.json")
	get(a.handleFlags, "/master/flags", "/flags")
	get(a.handleHealth, "/master/health", "/health")
	get(a.handleVersion, "/version")
	get(a.handleMetrics, "/metrics/snapshot")

	mux.HandleFunc("POST /api/v1", a.handleOperator)
	mux.HandleFunc("POST /master/api/v1", a.handleOperator)
	mux.HandleFunc("POST /master/teardown", a.handleTeardown)
	mux.HandleFunc("POST /teardown", a.handleTeardown)
}
