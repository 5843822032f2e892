// Package deploy is Marathon's deployment logic as pure code: the root group
// (every app and explicit group, by absolute id), the plan that turns one
// root into another (steps of concurrent actions, in dependency order), and
// the step logic that, given where an app's instances are now, decides what
// to launch and what to kill next (start, scale, stop, rolling restart with
// upgradeStrategy, killSelection, health and readiness gating).
//
// It does no I/O and reads no clock: the caller (internal/marathon) owns the
// state and the timers, calls Progress on every change, and carries out the
// Decision. It must not import net/http.
package deploy

import (
	"errors"
	"slices"
	"time"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// ErrDependencyCycle is wrapped by NewPlan when apps it must order depend
// on each other in a cycle.
var ErrDependencyCycle = errors.New("dependency cycle")

// Root is the whole tree: every app and every explicit group by absolute id.
// Groups that only exist because an app's path names them are implicit; they
// need no entry (Tree synthesises them). The root group "/" is implicit too.
type Root struct {
	Apps   map[string]marathon.App `json:"apps"`
	Groups map[string]GroupMeta    `json:"groups"`
}

// GroupMeta is what an explicit group carries besides its members.
type GroupMeta struct {
	ID           string   `json:"id"`
	Dependencies []string `json:"dependencies"`
	EnforceRole  bool     `json:"enforceRole,omitempty"`
	Version      string   `json:"version,omitempty"`
}

// Clone returns a deep copy of r that the caller may edit (its maps are
// never nil, even when r's are).
func (r Root) Clone() Root {
	c := Root{
		Apps:   make(map[string]marathon.App, len(r.Apps)),
		Groups: make(map[string]GroupMeta, len(r.Groups)),
	}
	for id, a := range r.Apps {
		c.Apps[id] = cloneApp(a)
	}
	for id, g := range r.Groups {
		c.Groups[id] = g.clone()
	}
	return c
}

// Only returns r with only the apps whose ids are given (and every group);
// the result shares r's groups and app values.
func (r Root) Only(ids []string) Root {
	o := Root{Apps: make(map[string]marathon.App, len(ids)), Groups: r.Groups}
	for _, id := range ids {
		if a, ok := r.Apps[id]; ok {
			o.Apps[id] = a
		}
	}
	return o
}

// Tree renders r as the nested group tree rooted at id (GET /v2/groups/{id});
// ok is false when no app or group lies under id.
//
// Apps and groups are sorted by id; Apps, Pods, Groups and Dependencies are
// never nil. The root "/" always exists. An id that names an app (and no
// group) is not a group: ok is false.
func (r Root) Tree(id string) (g marathon.Group, ok bool) { return r.tree(id) }

// PutGroup merges a submitted group tree into r: its apps and explicit
// groups (recursively) are added or replaced; when replace is true (PUT
// without partial semantics / POST) apps and groups under g.ID that are not
// in g are removed.
//
// g.ID and the ids of everything nested in it must be absolute. Every group
// in g, g itself included, becomes explicit, carrying its dependencies,
// enforceRole and version. Apps are copied: r keeps nothing of g.
func (r *Root) PutGroup(g marathon.Group, replace bool) { r.putGroup(g, replace) }

// DeleteGroup removes every app and group under id (id "/" empties r).
func (r *Root) DeleteGroup(id string) { r.deleteGroup(id) }

// Dependencies returns the absolute ids app depends on: its own
// dependencies and those of its enclosing explicit groups, expanded from
// group ids to the apps under them.
//
// A group depending on "/db" makes every app under the group depend on every
// app under "/db" (and on the app "/db", if there is one), except that an
// app lying itself under "/db" does not inherit that dependency (it would
// otherwise depend on its own siblings). Ids should be absolute; a relative
// one is resolved against the parent group of the app or group declaring
// it. The app itself and ids that name nothing are dropped; the result is
// sorted and has no duplicates (nil for an unknown app).
func (r Root) Dependencies(appID string) []string {
	return newDepIndex(r).dependencies(cleanID(appID))
}

// Action is one action of a deployment step.
type Action struct {
	Kind  string `json:"action"` // marathon.ActionStart, ActionStop, ActionScale, ActionRestart
	AppID string `json:"app"`
}

// Plan is a deployment: the steps that move the cluster from Original to
// Target. Steps run one after another; the actions of a step run together.
type Plan struct {
	ID       string     `json:"id"`
	Version  string     `json:"version"`
	Original Root       `json:"original"`
	Target   Root       `json:"target"`
	Steps    [][]Action `json:"steps"`
}

// AffectedApps lists the ids of the apps the plan acts on, sorted.
// It is never nil, so it marshals as [].
func (p Plan) AffectedApps() []string {
	ids := []string{}
	for _, step := range p.Steps {
		for _, a := range step {
			ids = append(ids, a.AppID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// NewPlan computes the plan from original to target (reference §2.6):
// new apps are started, removed apps stopped, apps whose config changed
// (appdef.IsConfigChange, or a changed versionInfo.lastConfigChangeAt — a
// restart) restarted, apps whose instances changed scaled. Starts, scales
// and restarts are ordered so that an app's dependencies come in an earlier
// step; stops are ordered the other way (dependants first) and come first.
// A plan with no steps is valid (nothing to do). id and version are stored as given.
//
// Details: a config change is any difference in the apps' JSON other than
// instances, version and versionInfo. Stops are ordered by the original
// root's dependencies, the rest by the target's; a dependency of an action
// reached only through unaffected apps still orders it. Actions of a step
// are sorted by app id; empty steps are left out. A dependency cycle
// among the apps a step ordering looks at is an error wrapping
// ErrDependencyCycle. The plan keeps original and target, not copies.
func NewPlan(original, target Root, id, version string) (Plan, error) {
	return newPlan(original, target, id, version)
}

// Instance is what Progress needs to know about one instance of an app.
type Instance struct {
	ID string
	// Version is the app config version the instance runs (or will run).
	Version string
	// Scheduled: created but no task launched yet (waiting for an offer).
	Scheduled bool
	// Running: the task is TASK_RUNNING.
	Running bool
	// Healthy: Running and (no health checks, or the latest check passed).
	Healthy bool
	// Ready: Healthy and (no readiness check, or it reported ready).
	Ready bool
	// Killing: a kill was sent (or the instance is being decommissioned).
	Killing bool
	// Since orders instances for killSelection: when it was staged
	// (scheduled instances: when they were created).
	Since time.Time
}

// AppState is an app's target definition and its current live instances
// (terminal, expunged and decommissioned-and-gone instances left out).
type AppState struct {
	App       marathon.App // the target; App.Version is the target version
	Instances []Instance
}

// Decision is what to do next for one action.
type Decision struct {
	// Launch is how many new instances (at the target version) to schedule.
	Launch int
	// Kill lists the instances to kill and decommission, in kill order.
	Kill []string
	// Done reports that the action is complete.
	Done bool
}

// Progress decides the next move of action a given the app's state. It is
// called again after every change, so it must count scheduled and killing
// instances as already decided. Rules (reference §2.6):
//   - Start/Scale: launch or kill (killSelection order; YOUNGEST_FIRST kills
//     the newest) until the count matches; done when App.Instances instances
//     at any version are healthy and ready and none are scheduled.
//   - Stop: kill all; done when none are left.
//   - Restart: rolling replacement of instances whose Version differs from
//     the target honouring upgradeStrategy: never fewer than
//     ceil(instances*minimumHealthCapacity) healthy instances, never more than
//     floor(instances*(1+maximumOverCapacity)) in total; when both bounds
//     equal instances, one extra instance is allowed so the upgrade can move.
//     Old instances are killed as new ones become ready; done when all
//     App.Instances instances run the target version and are healthy and
//     ready, and no old ones remain.
//
// Instances with Killing set are already going away: they are neither
// capacity nor killed again. Scheduled instances count as launched but are
// not healthy. Stop is done only when no instance is left at all, killing
// ones included; the other kinds do not wait for kills to finish.
// ResolveArtifacts and kinds this package does not know are done at once.
func Progress(kind string, s AppState) Decision {
	switch kind {
	case marathon.ActionStart, marathon.ActionScale:
		return progressScale(s)
	case marathon.ActionStop:
		return progressStop(s)
	case marathon.ActionRestart:
		return progressRestart(s)
	default:
		return Decision{Done: true}
	}
}
