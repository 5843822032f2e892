package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// groupID resolves the {rest...} of a group path ("" is the root group).
func groupID(rest string) (string, error) {
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return "/", nil
	}
	return canonicalID(rest)
}

// underGroup reports whether id lies below group gid.
func underGroup(id, gid string) bool {
	return gid == "/" || strings.HasPrefix(id, gid+"/")
}

// hasGroup reports whether gid exists in root (the root group always does).
func hasGroup(root deploy.Root, gid string) bool {
	if gid == "/" {
		return true
	}
	_, ok := root.Tree(gid)
	return ok
}

// getGroupPath is GET /v2/groups[/{id}] and GET /v2/groups/{id}/versions.
func (a *API) getGroupPath(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	if raw, _, ok := cutPathSuffix(rest, "versions", false); ok {
		gid, err := groupID(raw)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		vs, err := a.b.GroupVersions(r.Context(), gid)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if vs == nil {
			vs = []string{}
		}
		// Marathon answers a bare array here (unlike app versions).
		writeJSON(w, http.StatusOK, vs)
		return
	}
	gid, err := groupID(rest)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	snap := a.b.Snapshot()
	g, ok := snap.Root.Tree(gid)
	if !ok {
		if gid != "/" {
			a.fail(w, r, &marathon.GroupNotFoundError{ID: gid})
			return
		}
		g = v2.Group{ID: "/"}
	}
	writeJSON(w, http.StatusOK, groupInfo(g, snap, parseGroupEmbeds(embedValues(r))))
}

// bodyKeys lists the top-level keys of a JSON object body (nil when it is
// not an object; the decoder reports that).
func bodyKeys(body []byte) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil
	}
	return obj
}

// present reports whether the body has key with a non-null value.
func present(keys map[string]json.RawMessage, key string) bool {
	v, ok := keys[key]
	return ok && string(v) != "null"
}

// decodeGroup decodes and validates a submitted group; ids resolve against
// base (the path's group), which is also the group's id when the body has none.
func (a *API) decodeGroup(body []byte, base string) (v2.Group, error) {
	g, err := appdef.DecodeGroup(body, base)
	if err != nil {
		return v2.Group{}, err
	}
	if err := appdef.ValidateGroup(g, a.opts.AppDef); err != nil {
		return v2.Group{}, err
	}
	return g, nil
}

// createGroup is POST /v2/groups[/{id}]: 201, 409 when the group exists.
func (a *API) createGroup(w http.ResponseWriter, r *http.Request) {
	q := a.reader(w, r)
	base := q.id(groupID)
	force := q.flag("force", false)
	body := q.body()
	if q.failed() {
		return
	}
	g, err := a.decodeGroup(body, base)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
		Force: force,
		Change: func(root *deploy.Root) error {
			if hasGroup(*root, g.ID) {
				return &marathon.GroupExistsError{ID: g.ID}
			}
			ensureRootMaps(root)
			root.PutGroup(g, true)
			return nil
		},
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v2/groups"+g.ID)
	writeDeployment(w, http.StatusCreated, res.DeploymentResult)
}

// planOut is the body of a dry run.
type planOut struct {
	Steps []v2.DeploymentStep `json:"steps"`
}

func planSteps(p deploy.Plan) planOut {
	out := planOut{Steps: []v2.DeploymentStep{}}
	for _, step := range p.Steps {
		s := v2.DeploymentStep{Actions: []v2.DeploymentAction{}}
		for _, act := range step {
			s.Actions = append(s.Actions, v2.DeploymentAction{Action: act.Kind, App: act.AppID})
		}
		out.Steps = append(out.Steps, s)
	}
	return out
}

// updateGroup is PUT /v2/groups[/{id}] (patch false) and PATCH (patch
// true). PUT also takes {"scaleBy": f} (every app under the group scaled to
// ceil(instances*f)) and {"version": v} (rollback, see rollbackGroup);
// dryRun=true answers the plan's steps and changes nothing.
func (a *API) updateGroup(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := a.reader(w, r)
		gid := q.id(groupID)
		force := q.flag("force", false)
		dryRun := q.flag("dryRun", false)
		body := q.body()
		if q.failed() {
			return
		}
		var err error
		keys := bodyKeys(body)
		var change func(*deploy.Root) error
		switch {
		case !patch && present(keys, "scaleBy"):
			change, err = scaleGroup(gid, keys["scaleBy"])
		case !patch && present(keys, "version") && len(keys) <= 2 && (len(keys) == 1 || keys["id"] != nil):
			change, err = a.rollbackGroup(r, gid, keys["version"])
		default:
			var g v2.Group
			g, err = a.decodeGroup(body, gid)
			// PUT replaces the group's apps and groups when the body lists
			// them; without either, only the group's own fields change.
			replace := !patch && (present(keys, "apps") || present(keys, "groups"))
			change = func(root *deploy.Root) error {
				ensureRootMaps(root)
				root.PutGroup(g, replace)
				return nil
			}
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		res, err := a.b.Update(r.Context(), marathon.UpdateRequest{Force: force, DryRun: dryRun, Change: change})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if dryRun {
			writeJSON(w, http.StatusOK, planSteps(res.Plan))
			return
		}
		writeDeployment(w, http.StatusOK, res.DeploymentResult)
	}
}

// scaleGroup is the change of {"scaleBy": f}: every app under gid gets
// ceil(instances*f) instances.
func scaleGroup(gid string, raw json.RawMessage) (func(*deploy.Root) error, error) {
	var f float64
	if err := decodeJSON(raw, &f); err != nil {
		return nil, &appdef.DecodeError{Details: []v2.ErrorDetail{{Path: "/scaleBy", Errors: []string{"error.expected.jsnumber"}}}}
	}
	if f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, &appdef.ValidationError{Details: []v2.ErrorDetail{{Path: "/scaleBy", Errors: []string{"must be a non-negative number"}}}}
	}
	return func(root *deploy.Root) error {
		if !hasGroup(*root, gid) {
			return &marathon.GroupNotFoundError{ID: gid}
		}
		for id, app := range root.Apps {
			if underGroup(id, gid) {
				// The epsilon keeps float noise (10*0.3 = 3.0000000000000004)
				// from adding an instance.
				app.Instances = int(math.Ceil(float64(app.Instances)*f - 1e-9))
				root.Apps[id] = app
			}
		}
		return nil
	}, nil
}

// rollbackGroup is the change of {"version": v}. The core keeps app
// versions and the list of group versions but not group trees, so this is
// a best effort: every app now under the group goes back to its newest
// version not after v, and apps created after v are removed. Apps deleted
// since v are not restored, and group metadata is left as it is.
func (a *API) rollbackGroup(r *http.Request, gid string, raw json.RawMessage) (func(*deploy.Root) error, error) {
	var version string
	if err := decodeJSON(raw, &version); err != nil {
		return nil, err
	}
	ctx := r.Context()
	versions, err := a.b.GroupVersions(ctx, gid)
	if err != nil {
		return nil, err
	}
	found := false
	for _, v := range versions {
		found = found || v == version
	}
	if !found {
		return nil, &statusError{status: http.StatusNotFound, msg: fmt.Sprintf("Group '%s' does not exist in version %s", gid, version)}
	}
	snap := a.b.Snapshot()
	target := map[string]*v2.App{} // nil: remove
	for _, id := range snap.AppIDs {
		if !underGroup(id, gid) {
			continue
		}
		avs, err := a.b.AppVersions(ctx, id)
		if err != nil {
			return nil, err
		}
		best := ""
		for _, v := range avs {
			if !versionAfter(v, version) && (best == "" || versionAfter(v, best)) {
				best = v
			}
		}
		if best == "" {
			target[id] = nil
			continue
		}
		app, err := a.b.AppVersion(ctx, id, best)
		if err != nil {
			return nil, err
		}
		target[id] = &app
	}
	return func(root *deploy.Root) error {
		ensureRootMaps(root)
		for id, app := range target {
			if app == nil {
				delete(root.Apps, id)
				continue
			}
			root.Apps[id] = *app
		}
		return nil
	}, nil
}

// versionAfter reports whether version timestamp a is later than b.
// Versions are ISO 8601; unparsable ones compare as strings.
func versionAfter(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	if errA != nil || errB != nil {
		return a > b
	}
	return ta.After(tb)
}

// deleteGroup is DELETE /v2/groups[/{id}]: removes everything under it.
func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request) {
	gid, err := groupID(r.PathValue("rest"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	force, err := boolParam(r, "force", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.Update(r.Context(), marathon.UpdateRequest{
		Force: force,
		Change: func(root *deploy.Root) error {
			if !hasGroup(*root, gid) {
				return &marathon.GroupNotFoundError{ID: gid}
			}
			ensureRootMaps(root)
			root.DeleteGroup(gid)
			return nil
		},
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeDeployment(w, http.StatusOK, res.DeploymentResult)
}
