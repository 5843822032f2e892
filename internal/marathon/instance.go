package marathon

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// An instance is one replica of an app: the unit Marathon schedules,
// persists and replaces. It runs at most one Mesos task at a time; a
// relaunch after a failure gives it a new task (incarnation + 1).
//
//	           schedule (scale up, replacement)
//	                 │
//	                 ▼              offer matched, persisted, ACCEPT
//	          ┌─► Scheduled ───────────────────────────────► Staging ─► Running
//	backoff   │      ▲                                          │          │
//	elapsed   │      │ terminal (goal running)                   ▼          ▼
//	          └──────┴──────────────────────────────────────── terminal ◄── kill
//	                                  goal decommissioned: terminal → expunged
//
// Unreachable: a TASK_UNREACHABLE task keeps its instance (goal running)
// until unreachableStrategy's inactiveAfterSeconds, when a replacement is
// scheduled and the instance becomes inactive; after expungeAfterSeconds it
// is expunged (and killed should it come back).
type instance struct {
	ID          string    `json:"id"`
	AppID       string    `json:"appId"`
	Version     string    `json:"version"` // app config version (versionInfo.lastConfigChangeAt)
	Goal        string    `json:"goal"`
	Incarnation int       `json:"incarnation"`
	Created     time.Time `json:"created"`

	// The current (or last) task; TaskID is "" until the first launch.
	TaskID     string              `json:"taskId,omitempty"`
	AgentID    string              `json:"agentId,omitempty"`
	Hostname   string              `json:"hostname,omitempty"`
	Region     string              `json:"region,omitempty"`
	Zone       string              `json:"zone,omitempty"`
	Attributes []mesosv1.Attribute `json:"attributes,omitempty"`
	HostPorts  []int               `json:"hostPorts,omitempty"`
	IPs        []string            `json:"ips,omitempty"`
	State      string              `json:"state,omitempty"` // Mesos state of the task; "" = scheduled
	StagedAt   time.Time           `json:"stagedAt,omitzero"`
	StartedAt  time.Time           `json:"startedAt,omitzero"`
	Healthy    *bool               `json:"healthy,omitempty"`

	UnreachableSince time.Time `json:"unreachableSince,omitzero"`
	// Inactive: unreachable for longer than inactiveAfterSeconds; a
	// replacement was scheduled and the instance no longer counts.
	Inactive bool `json:"inactive,omitempty"`

	// Runtime only.
	ready      bool      // readiness check passed for the current task
	killSentAt time.Time // last kill sent for the current task
	killFirst  time.Time // first kill sent for the current task
	killedByUs bool      // the current task's end was asked for (no backoff)
	// reconcileSent is when the task was last asked about; zero once an
	// update for it arrived.
	reconcileSent time.Time
	// launching: the ACCEPT that launches the current task has not been
	// answered yet. Such a task is not reconciled: the master does not know
	// it yet and would answer TASK_GONE for a task about to run.
	launching bool
}

// Instance goals.
const (
	goalRunning        = "running"
	goalDecommissioned = "decommissioned"
)

// newInstanceID returns "<safePath>.instance-<uuid>".
func newInstanceID(appID string) string {
	return appdef.SafePath(appID) + ".instance-" + uuid()
}

// taskIDFor is the Mesos task id of an instance's incarnation:
// "<instanceId>._app.<incarnation>".
func taskIDFor(instanceID string, incarnation int) string {
	return instanceID + "._app." + strconv.Itoa(incarnation)
}

// instanceOfTask recovers the instance id from a task id of either form:
// "<instanceId>._app.<n>" or a legacy "<safePath>.<uuid>".
func instanceOfTask(taskID string) string {
	if i := strings.LastIndex(taskID, "._app."); i >= 0 {
		return taskID[:i]
	}
	return taskID
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ended reports whether a task in state s is over for Marathon: a Mesos
// terminal state, or TASK_UNKNOWN (the master has no record of it, which it
// answers to a kill or a reconciliation of a task it never saw or forgot).
func ended(s string) bool { return mesosv1.IsTerminalState(s) || s == mesosv1.TaskUnknown }

// final: a state a task never leaves. LOST and UNKNOWN are not final: the
// agent may come back and report the task running.
func final(s string) bool {
	switch s {
	case mesosv1.TaskFinished, mesosv1.TaskFailed, mesosv1.TaskKilled, mesosv1.TaskError,
		mesosv1.TaskDropped, mesosv1.TaskGone, mesosv1.TaskGoneByOperator:
		return true
	}
	return false
}

// scheduled: wants a task and has none active.
func (in *instance) scheduled() bool {
	return in.Goal == goalRunning && !in.Inactive && (in.State == "" || ended(in.State))
}

// active: has a task that is not terminal.
func (in *instance) active() bool {
	return in.State != "" && !ended(in.State)
}

// live: counts toward the app's instances (not decommissioned, not inactive).
func (in *instance) live() bool { return in.Goal == goalRunning && !in.Inactive }

func (in *instance) running() bool { return in.State == mesosv1.TaskRunning }

// healthy reports Running and (no health checks, or the latest passed).
func (in *instance) healthy(hasChecks bool) bool {
	if !in.running() {
		return false
	}
	if !hasChecks {
		return true
	}
	return in.Healthy != nil && *in.Healthy
}

func (in *instance) clone() *instance {
	c := *in
	c.Attributes = append([]mesosv1.Attribute(nil), in.Attributes...)
	c.HostPorts = append([]int(nil), in.HostPorts...)
	c.IPs = append([]string(nil), in.IPs...)
	return &c
}
