package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// canonicalID resolves an id taken from a path to its absolute form.
func canonicalID(raw string) (string, error) {
	id, err := appdef.CanonicalID(raw, "/")
	if err != nil {
		return "", &statusError{status: http.StatusBadRequest, msg: fmt.Sprintf("Invalid path id %q: %v", raw, err)}
	}
	return id, nil
}

// cutPathSuffix splits rest (the part of the path after /v2/apps/ or
// /v2/groups/) at a trailing "/name" or, when withArg, "/name/{arg}". Ids
// whose last segment is name are therefore unreachable with that suffix
// route, as in Marathon.
func cutPathSuffix(rest, name string, withArg bool) (id, arg string, ok bool) {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	n := len(segs)
	if n >= 2 && segs[n-1] == name {
		return strings.Join(segs[:n-1], "/"), "", true
	}
	if withArg && n >= 3 && segs[n-2] == name && segs[n-1] != "" {
		return strings.Join(segs[:n-2], "/"), segs[n-1], true
	}
	return "", "", false
}

// appFilter selects apps for GET /v2/apps.
type appFilter struct {
	cmd, id string // case-insensitive substrings
	labels  labelSelector
	under   string // a group id: only apps below it ("" = all)
}

func (f appFilter) match(app v2.App) bool {
	if f.cmd != "" && (app.Cmd == nil || !strings.Contains(strings.ToLower(*app.Cmd), strings.ToLower(f.cmd))) {
		return false
	}
	if f.id != "" && !strings.Contains(strings.ToLower(app.ID), strings.ToLower(f.id)) {
		return false
	}
	if f.under != "" && f.under != "/" && !strings.HasPrefix(app.ID, f.under+"/") {
		return false
	}
	return f.labels == nil || f.labels.matches(app.Labels)
}

// listApps is GET /v2/apps (and GET /v2/apps/{group}/*).
func (a *API) listApps(w http.ResponseWriter, r *http.Request) {
	a.listAppsUnder(w, r, "")
}

func (a *API) listAppsUnder(w http.ResponseWriter, r *http.Request, under string) {
	q := r.URL.Query()
	f := appFilter{cmd: q.Get("cmd"), id: q.Get("id"), under: under}
	if l := q.Get("label"); l != "" {
		sel, err := parseLabelSelector(l)
		if err != nil {
			a.fail(w, r, badRequest("%v", err))
			return
		}
		f.labels = sel
	}
	e := parseAppEmbeds(embedValues(r), "apps.")
	if under != "" {
		// GET /v2/apps/{group}/* embeds like GET /v2/apps/{id}.
		e.tasks, e.lastTaskFailure = true, true
	}
	snap := a.b.Snapshot()
	// Each app's rendering is cached on its (immutable) status, so a list
	// costs the apps that changed since the last one, not the whole cluster.
	// Encode (or fetch) every app first, so an error can still answer 500,
	// then stream the pieces: no copy of the whole body is made.
	parts := make([][]byte, 0, len(snap.AppIDs))
	for _, id := range snap.AppIDs {
		app, ok := snap.Root.Apps[id]
		if !ok || !f.match(app) {
			continue
		}
		b, err := encodeApp(app, snap.Apps[id], e)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		parts = append(parts, b)
	}
	streamJSONList(w, `{"apps":[`, "]}\n", parts)
}

// encodeApp renders an app as AppInfo JSON, from the status's cache when
// the same embeds were rendered before.
func encodeApp(app v2.App, st *marathon.AppStatus, e appEmbeds) ([]byte, error) {
	render := func() ([]byte, error) {
		var buf bytes.Buffer
		if err := encodeCompact(&buf, appInfo(app, st, e)); err != nil {
			return nil, fmt.Errorf("encode app %s: %w", app.ID, err)
		}
		return buf.Bytes(), nil
	}
	if st == nil {
		return render()
	}
	return st.Encoded(fmt.Sprintf("app:%t%t%t%t", e.tasks, e.readiness, e.lastTaskFailure, e.taskStats), render)
}

// getAppPath is GET /v2/apps/{rest...}: an app, its tasks, its versions.
func (a *API) getAppPath(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(r.PathValue("rest"), "/")
	switch {
	case rest == "":
		a.listApps(w, r)
		return
	case rest == "*" || strings.HasSuffix(rest, "/*"):
		group, err := canonicalID(strings.TrimSuffix(strings.TrimSuffix(rest, "*"), "/"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.listAppsUnder(w, r, group)
		return
	}
	if raw, _, ok := cutPathSuffix(rest, "tasks", false); ok {
		a.withAppID(w, r, raw, a.appTasks)
		return
	}
	if raw, version, ok := cutPathSuffix(rest, "versions", true); ok {
		a.withAppID(w, r, raw, func(w http.ResponseWriter, r *http.Request, id string) {
			a.appVersions(w, r, id, version)
		})
		return
	}
	a.withAppID(w, r, rest, a.getApp)
}

// withAppID canonicalises raw and calls h with it.
func (a *API) withAppID(w http.ResponseWriter, r *http.Request, raw string, h func(http.ResponseWriter, *http.Request, string)) {
	id, err := canonicalID(raw)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h(w, r, id)
}

// getApp is GET /v2/apps/{id}.
func (a *API) getApp(w http.ResponseWriter, r *http.Request, id string) {
	snap := a.b.Snapshot()
	app, ok := snap.Root.Apps[id]
	if !ok {
		a.fail(w, r, &marathon.AppNotFoundError{ID: id})
		return
	}
	e := parseAppEmbeds(embedValues(r), "app.")
	// Marathon always embeds tasks and the last failure here (deprecated,
	// "for compatibility"); go-marathon's WaitOnApplication needs them.
	e.tasks, e.lastTaskFailure = true, true
	writeJSON(w, http.StatusOK, struct {
		App appInfoOut `json:"app"`
	}{appInfo(app, snap.Apps[id], e)})
}

// appVersions is GET /v2/apps/{id}/versions and .../versions/{version}.
func (a *API) appVersions(w http.ResponseWriter, r *http.Request, id, version string) {
	if version == "" {
		vs, err := a.b.AppVersions(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if vs == nil {
			vs = []string{}
		}
		writeJSON(w, http.StatusOK, struct {
			Versions []string `json:"versions"`
		}{vs})
		return
	}
	app, err := a.b.AppVersion(r.Context(), id, version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

// createApp is POST /v2/apps: 201 with the app, 409 when it exists.
func (a *API) createApp(w http.ResponseWriter, r *http.Request) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	app, err := appdef.DecodeApp(body, "/")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := appdef.ValidateApp(app, a.opts.AppDef); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
		Force: force,
		Change: func(root *deploy.Root) error {
			if _, ok := root.Apps[app.ID]; ok {
				return &marathon.AppExistsError{ID: app.ID}
			}
			ensureRootMaps(root)
			root.Apps[app.ID] = app
			return nil
		},
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Answer with the app as stored (versions stamped, service ports
	// assigned) when the snapshot already shows it.
	created := app
	if stored, ok := a.b.Snapshot().Root.Apps[app.ID]; ok && stored.Version == res.Version {
		created = stored
	} else {
		created.Version = res.Version
	}
	info := appInfo(created, nil, appEmbeds{})
	if res.DeploymentID != "" {
		info.Deployments = []v2.DeploymentRef{{ID: res.DeploymentID}}
		w.Header().Set("Marathon-Deployment-Id", res.DeploymentID)
	}
	w.Header().Set("Location", "/v2/apps"+app.ID)
	writeJSON(w, http.StatusCreated, info)
}

// ensureRootMaps makes root's maps writable.
func ensureRootMaps(root *deploy.Root) {
	if root.Apps == nil {
		root.Apps = map[string]v2.App{}
	}
	if root.Groups == nil {
		root.Groups = map[string]deploy.GroupMeta{}
	}
}

// withID returns the JSON object body with its "id" set to id, so that the
// path's id wins over the body's. Anything but an object is returned as
// is, for appdef to report.
func withID(body []byte, id string) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return body
	}
	obj["id"], _ = json.Marshal(id)
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

// putApp applies one submitted app to root: merged onto the existing app
// when partial, replacing it otherwise; created when absent if create
// allows it (404 otherwise). It reports whether it created the app.
func (a *API) putApp(root *deploy.Root, id string, body []byte, partial, create bool) (created bool, err error) {
	existing, exists := root.Apps[id]
	var app v2.App
	switch {
	case exists && partial:
		app, err = appdef.MergeApp(existing, body)
	case exists || create:
		app, err = appdef.DecodeApp(body, "/")
	default:
		return false, &marathon.AppNotFoundError{ID: id}
	}
	if err != nil {
		return false, err
	}
	app.ID = id
	if err := appdef.ValidateApp(app, a.opts.AppDef); err != nil {
		return false, err
	}
	ensureRootMaps(root)
	root.Apps[id] = app
	return !exists, nil
}

// updateApp is PUT /v2/apps/{id} (patch false; partialUpdate defaults to
// true; creates the app when absent: 201) and PATCH /v2/apps/{id} (always
// partial; 404 when absent).
func (a *API) updateApp(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := a.reader(w, r)
		id := q.id(canonicalID)
		partial := patch || q.flag("partialUpdate", true)
		force := q.flag("force", false)
		body := q.body()
		if q.failed() {
			return
		}
		if v, ok := versionOnly(body); ok {
			// {"version": ts} rolls the app back to that version.
			old, err := a.b.AppVersion(r.Context(), id, v)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			res, err := a.b.Update(r.Context(), marathon.UpdateRequest{Force: force, Change: func(root *deploy.Root) error {
				if _, ok := root.Apps[id]; !ok {
					return &marathon.AppNotFoundError{ID: id}
				}
				root.Apps[id] = old
				return nil
			}})
			if err != nil {
				a.fail(w, r, err)
				return
			}
			writeDeployment(w, http.StatusOK, res.DeploymentResult)
			return
		}
		body = withID(body, id)
		var created bool
		res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
			Force: force,
			Change: func(root *deploy.Root) error {
				var err error
				created, err = a.putApp(root, id, body, partial, !patch)
				return err
			},
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "/v2/apps"+id)
		}
		writeDeployment(w, status, res.DeploymentResult)
	}
}

// updateApps is PUT /v2/apps and PATCH /v2/apps: a JSON array of apps,
// applied in one deployment. PUT creates absent apps; PATCH answers 404.
func (a *API) updateApps(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := a.reader(w, r)
		partial := patch || q.flag("partialUpdate", true)
		force := q.flag("force", false)
		body := q.body()
		if q.failed() {
			return
		}
		raws, ids, err := appdef.DecodeApps(body)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for i := range raws {
			raws[i] = withID(raws[i], ids[i])
		}
		res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
			Force: force,
			Change: func(root *deploy.Root) error {
				for i := range raws {
					if _, err := a.putApp(root, ids[i], raws[i], partial, !patch); err != nil {
						return atIndex(err, i)
					}
				}
				return nil
			},
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeDeployment(w, http.StatusOK, res.DeploymentResult)
	}
}

// atIndex places the detail paths of a decode or validation error of the
// i-th element of an array body under that element, as appdef writes
// them: "/cmd" becomes "(i)/cmd". Other errors are returned as they are.
func atIndex(err error, i int) error {
	prefix := func(ds []v2.ErrorDetail) []v2.ErrorDetail {
		out := make([]v2.ErrorDetail, len(ds))
		for j, d := range ds {
			out[j] = d
			out[j].Path = fmt.Sprintf("(%d)%s", i, strings.TrimSuffix(d.Path, "/"))
		}
		return out
	}
	var de *appdef.DecodeError
	if errors.As(err, &de) {
		return &appdef.DecodeError{Details: prefix(de.Details)}
	}
	var ve *appdef.ValidationError
	if errors.As(err, &ve) {
		return &appdef.ValidationError{Details: prefix(ve.Details)}
	}
	return err
}

// deleteAppPath is DELETE /v2/apps/{id}, .../tasks and .../tasks/{taskId}.
func (a *API) deleteAppPath(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	if raw, taskID, ok := cutPathSuffix(rest, "tasks", true); ok {
		a.withAppID(w, r, raw, func(w http.ResponseWriter, r *http.Request, id string) {
			a.killAppTasks(w, r, id, taskID)
		})
		return
	}
	a.withAppID(w, r, rest, a.deleteApp)
}

// deleteApp is DELETE /v2/apps/{id}.
func (a *API) deleteApp(w http.ResponseWriter, r *http.Request, id string) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
		Force: force,
		Change: func(root *deploy.Root) error {
			if _, ok := root.Apps[id]; !ok {
				return &marathon.AppNotFoundError{ID: id}
			}
			delete(root.Apps, id)
			return nil
		},
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeDeployment(w, http.StatusOK, res.DeploymentResult)
}

// postAppPath is POST /v2/apps/{id}/restart.
func (a *API) postAppPath(w http.ResponseWriter, r *http.Request) {
	raw, _, ok := cutPathSuffix(r.PathValue("rest"), "restart", false)
	if !ok {
		writeError(w, http.StatusNotFound, "Not found: POST is only allowed on /v2/apps and /v2/apps/{id}/restart")
		return
	}
	a.withAppID(w, r, raw, a.restartApp)
}

// restartApp is POST /v2/apps/{id}/restart: a rolling restart at the same
// definition.
func (a *API) restartApp(w http.ResponseWriter, r *http.Request, id string) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
		Force:   force,
		Restart: []string{id},
		Change: func(root *deploy.Root) error {
			if _, ok := root.Apps[id]; !ok {
				return &marathon.AppNotFoundError{ID: id}
			}
			return nil
		},
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeDeployment(w, http.StatusOK, res.DeploymentResult)
}

// versionOnly reports whether body is {"version": "<ts>"} (plus at most an
// "id"): Marathon's request to roll an app back to a stored version.
func versionOnly(body []byte) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return "", false
	}
	raw, ok := m["version"]
	if !ok || len(m) > 2 {
		return "", false
	}
	if _, hasID := m["id"]; len(m) == 2 && !hasID {
		return "", false
	}
	var v string
	if json.Unmarshal(raw, &v) != nil || v == "" {
		return "", false
	}
	return v, true
}
