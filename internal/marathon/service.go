package marathon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// This file is the surface internal/marathon/api builds on: the read
// snapshot, the mutation requests, and the errors they return.

// Snapshot is an immutable view of Marathon's state, published after every
// change. Readers must not modify it.
type Snapshot struct {
	// Taken is when the snapshot was published.
	Taken time.Time
	// FrameworkID is Marathon's Mesos framework ID ("" before the first SUBSCRIBED).
	FrameworkID string
	// Root is the current target state: every app (normalised, with
	// version and versionInfo) and explicit group.
	Root deploy.Root
	// AppIDs lists Root's app ids, sorted.
	AppIDs []string
	// Apps holds the runtime status of every app in Root.
	Apps map[string]*AppStatus
	// Deployments are the running deployments, oldest first.
	Deployments []v2.Deployment
	// Queue lists apps with instances waiting for an offer.
	Queue []QueueEntry
	// Instances counts every instance Marathon keeps, including ones being
	// killed and unreachable ones.
	Instances int
}

// AppStatus is the runtime side of one app.
type AppStatus struct {
	// Tasks are the app's live tasks, as /v2/tasks renders them, in
	// instance order; Staged, Running, Healthy and Unhealthy count them.
	Tasks                               []v2.Task
	Staged, Running, Healthy, Unhealthy int
	// Deployments are the running deployments that affect the app.
	Deployments []v2.DeploymentRef
	// LastTaskFailure is the app's most recent task failure, if any.
	LastTaskFailure *v2.TaskFailure
	// Readiness holds the latest readiness results of its tasks during a deployment.
	Readiness []v2.ReadinessResult
	// TaskStats are the taskStats buckets (embed=apps.taskStats).
	TaskStats map[string]*v2.TaskStats

	// encoded caches renderings of the app with this status, by a key the
	// renderer chooses (e.g. the embed options). A status is replaced, never
	// changed, when the app or its tasks change, so an entry stays valid for
	// as long as the status is published.
	encoded sync.Map
}

// Encoded returns the cached rendering for key, calling render once to
// make it. Safe for concurrent use.
func (s *AppStatus) Encoded(key string, render func() ([]byte, error)) ([]byte, error) {
	if b, ok := s.encoded.Load(key); ok {
		return b.([]byte), nil
	}
	b, err := render()
	if err != nil {
		return nil, err
	}
	s.encoded.Store(key, b)
	return b, nil
}

// QueueEntry is an app with instances waiting to launch.
type QueueEntry struct {
	AppID string
	Count int
	// Delay is the backoff still to wait (0 when it may launch now);
	// Overdue reports that it could launch but no offer fitted yet.
	Delay   time.Duration
	Overdue bool
	Since   time.Time
	Offers  v2.ProcessedOffersSummary
}

// UpdateRequest changes the root: Change edits a copy of the current root
// on Marathon's event loop (it may read it to merge partial updates) and
// returns an error to abort with nothing applied. Marathon then stamps
// versions, assigns service ports, validates the whole root, plans the
// deployment and starts it.
type UpdateRequest struct {
	// Force cancels deployments that conflict with this one instead of
	// failing with *ConflictError.
	Force bool
	// DryRun plans without applying: the result's Plan is set, nothing else happens.
	DryRun bool
	// Restart names apps to restart even if their definition is unchanged
	// (POST /v2/apps/{id}/restart).
	Restart []string
	// Change edits root. It must not keep root or anything in it.
	Change func(root *deploy.Root) error
}

// UpdateResult is the outcome of an update.
type UpdateResult struct {
	v2.DeploymentResult
	// Plan is the deployment's plan (DryRun, or to render steps).
	Plan deploy.Plan
}

// KillRequest kills tasks (DELETE /v2/apps/{id}/tasks[/{taskId}], POST
// /v2/tasks/delete). With Scale the apps' instances are reduced by the
// number killed (a deployment); with Wipe the instances are expunged
// rather than restarted.
type KillRequest struct {
	TaskIDs []string
	Scale   bool
	Wipe    bool
	Force   bool
}

// KillResult lists the tasks killed, or the deployment when Scale was set.
type KillResult struct {
	Tasks      []v2.Task
	Deployment *v2.DeploymentResult
}

// NotLeaderError is returned by mutations on a non-leader; Leader is the
// leader's HTTP address ("" when unknown).
type NotLeaderError struct{ Leader string }

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "no Marathon leader elected"
	}
	return "not the Marathon leader; the leader is " + e.Leader
}

// AppNotFoundError is a missing app (404).
type AppNotFoundError struct {
	ID      string
	Version string // set when a version of an existing app is missing
}

func (e *AppNotFoundError) Error() string {
	if e.Version != "" {
		return fmt.Sprintf("App '%s' does not exist in version %s", e.ID, e.Version)
	}
	return fmt.Sprintf("App '%s' does not exist", e.ID)
}

// GroupNotFoundError is a missing group (404).
type GroupNotFoundError struct{ ID string }

func (e *GroupNotFoundError) Error() string { return fmt.Sprintf("Group '%s' does not exist", e.ID) }

// TaskNotFoundError is a missing task (404).
type TaskNotFoundError struct{ ID string }

func (e *TaskNotFoundError) Error() string { return fmt.Sprintf("Task '%s' does not exist", e.ID) }

// DeploymentNotFoundError is a missing deployment (404).
type DeploymentNotFoundError struct{ ID string }

func (e *DeploymentNotFoundError) Error() string {
	return fmt.Sprintf("DeploymentPlan %s does not exist", e.ID)
}

// AppExistsError is a POST of an app that exists (409).
type AppExistsError struct{ ID string }

func (e *AppExistsError) Error() string {
	return fmt.Sprintf("An app with id [%s] already exists.", e.ID)
}

// GroupExistsError is a POST of a group that exists (409).
type GroupExistsError struct{ ID string }

func (e *GroupExistsError) Error() string {
	return fmt.Sprintf("A group with id [%s] already exists.", e.ID)
}

// ConflictError is a change that touches apps a running deployment holds
// (409 unless force).
type ConflictError struct{ Deployments []string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'. (deployments: %s)",
		strings.Join(e.Deployments, ", "))
}

// Update applies req (see UpdateRequest).
func (m *Marathon) Update(ctx context.Context, req UpdateRequest) (UpdateResult, error) {
	var res UpdateResult
	err := m.do(ctx, func(l *loop) error {
		var err error
		res, err = l.update(req)
		return err
	})
	return res, err
}

// KillTasks kills tasks (see KillRequest).
func (m *Marathon) KillTasks(ctx context.Context, req KillRequest) (KillResult, error) {
	var res KillResult
	err := m.do(ctx, func(l *loop) error {
		var err error
		res, err = l.killTasks(req)
		return err
	})
	return res, err
}

// CancelDeployment stops deployment id. Without force it also starts the
// rollback deployment (returned); with force it only cancels (nil result).
func (m *Marathon) CancelDeployment(ctx context.Context, id string, force bool) (*v2.DeploymentResult, error) {
	var res *v2.DeploymentResult
	err := m.do(ctx, func(l *loop) error {
		var err error
		res, err = l.cancelDeployment(id, force)
		return err
	})
	return res, err
}

// ResetDelay clears the launch backoff of app id.
func (m *Marathon) ResetDelay(ctx context.Context, id string) error {
	return m.do(ctx, func(l *loop) error { return l.resetDelay(id) })
}
