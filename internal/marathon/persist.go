package marathon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	"github.com/basalt-dcos/basalt/internal/store"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// Store layout, under the store's prefix:
//
//	marathon/framework-id                      the Mesos framework ID
//	marathon/apps/<safe path>                  current app definition
//	marathon/appversions/<safe path>/<version> every kept version of an app
//	marathon/groups/<safe path>                explicit group (dependencies, enforceRole)
//	marathon/deployments/<id>                  running deployment (plan + current step)
//	marathon/instances/<instance id>           every instance
//
// Safe paths ("/a/b" -> "a_b") are unique because "_" cannot occur in ids.
const (
	keyFrameworkID   = "marathon/framework-id"
	prefixApps       = "marathon/apps/"
	prefixVersions   = "marathon/appversions/"
	prefixGroups     = "marathon/groups/"
	prefixDeployment = "marathon/deployments/"
	prefixInstances  = "marathon/instances/"
)

// deploymentRecord is a running deployment as stored.
type deploymentRecord struct {
	Plan deploy.Plan `json:"plan"`
	Step int         `json:"step"`

	apps []string // Plan.AffectedApps(), computed once
}

// affected returns the ids of the apps the deployment acts on.
func (d *deploymentRecord) affected() []string {
	if d.apps == nil {
		d.apps = d.Plan.AffectedApps()
	}
	return d.apps
}

// persisted is everything Marathon loads when it becomes leader.
type persisted struct {
	frameworkID string
	root        deploy.Root
	versions    map[string][]string // app id -> versions, oldest first
	deployments []*deploymentRecord
	instances   map[string]*instance
}

// groupKey is the safe path of a group; the root group has none.
func safeKey(id string) string { return appdef.SafePath(id) }

func appKey(id string) string              { return prefixApps + safeKey(id) }
func versionKey(id, version string) string { return prefixVersions + safeKey(id) + "/" + version }
func groupKey(id string) string            { return prefixGroups + safeKey(id) }
func deploymentKey(id string) string       { return prefixDeployment + id }
func instanceKey(id string) string         { return prefixInstances + id }
func putJSON(key string, v any) store.Op   { return store.PutJSON(key, v) }

// load reads Marathon's state from st.
func load(ctx context.Context, st *store.Store) (*persisted, error) {
	p := &persisted{
		root:      emptyRoot(),
		versions:  map[string][]string{},
		instances: map[string]*instance{},
	}
	if b, err := st.Get(ctx, keyFrameworkID); err == nil {
		p.frameworkID = string(b)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load framework id: %w", err)
	}
	kvs, err := st.List(ctx, prefixApps)
	if err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	for _, kv := range kvs {
		var a v2.App
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("load app %s: %w", kv.Key, err)
		}
		appdef.Normalize(&a)
		p.root.Apps[a.ID] = a
	}
	kvs, err = st.List(ctx, prefixGroups)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	for _, kv := range kvs {
		var g deploy.GroupMeta
		if err := json.Unmarshal(kv.Value, &g); err != nil {
			return nil, fmt.Errorf("load group %s: %w", kv.Key, err)
		}
		p.root.Groups[g.ID] = g
	}
	kvs, err = st.List(ctx, prefixVersions)
	if err != nil {
		return nil, fmt.Errorf("load app versions: %w", err)
	}
	bySafe := map[string]string{}
	for id := range p.root.Apps {
		bySafe[safeKey(id)] = id
	}
	for _, kv := range kvs {
		rest := strings.TrimPrefix(kv.Key, prefixVersions)
		safe, ver, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		id, ok := bySafe[safe]
		if !ok {
			var a v2.App
			if json.Unmarshal(kv.Value, &a) != nil {
				continue
			}
			id = a.ID
			bySafe[safe] = id
		}
		p.versions[id] = append(p.versions[id], ver)
	}
	for id := range p.versions {
		sort.Strings(p.versions[id])
	}
	kvs, err = st.List(ctx, prefixDeployment)
	if err != nil {
		return nil, fmt.Errorf("load deployments: %w", err)
	}
	for _, kv := range kvs {
		var d deploymentRecord
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return nil, fmt.Errorf("load deployment %s: %w", kv.Key, err)
		}
		p.deployments = append(p.deployments, &d)
	}
	sort.Slice(p.deployments, func(i, j int) bool { return p.deployments[i].Plan.Version < p.deployments[j].Plan.Version })
	kvs, err = st.List(ctx, prefixInstances)
	if err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	for _, kv := range kvs {
		var in instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return nil, fmt.Errorf("load instance %s: %w", kv.Key, err)
		}
		p.instances[in.ID] = &in
	}
	return p, nil
}
