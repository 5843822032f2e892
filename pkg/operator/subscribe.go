// Package operator is a client of the Mesos v1 operator API's event stream
// (POST /api/v1 {"type":"SUBSCRIBE"} on the leading master): Subscribe runs
// one subscription, and Follower keeps an in-memory mirror of the leader's
// tasks, agents and frameworks across master failovers, for consumers that
// must watch state rather than poll it (DNS, the VIP load balancer).
//
// It must not import internal/ (it is for outside users) and it never
// writes to the master: it only reads.
package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// Errors Subscribe returns; match them with errors.Is.
var (
	// ErrMissedHeartbeat: no record arrived for 3 heartbeat intervals.
	ErrMissedHeartbeat = errors.New("operator stream: missed heartbeats")
	// ErrStreamEnded: the master closed the stream.
	ErrStreamEnded = errors.New("operator stream ended")
	// ErrBadEvent: a record is not a valid operator event.
	ErrBadEvent = errors.New("bad operator event")
)

// defaultHeartbeat is Mesos' interval, used until SUBSCRIBED says otherwise.
const defaultHeartbeat = 15 * time.Second

// missedHeartbeats is how many intervals without a record end the stream.
const missedHeartbeats = 3

// maxHeartbeatSeconds caps the interval a master may announce.
const maxHeartbeatSeconds = 3600

// maxEventBytes bounds one record; SUBSCRIBED carries the whole state.
const maxEventBytes = 1 << 30

// DecodeEvent parses one record of the stream and checks that the member
// its type names is present. Unknown types decode without error (newer
// masters may send more); callers ignore them.
func DecodeEvent(b []byte) (*mesosv1.OperatorEvent, error) {
	var ev mesosv1.OperatorEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	missing := ""
	switch ev.Type {
	case "":
		return nil, fmt.Errorf("%w: no type", ErrBadEvent)
	case mesosv1.OperatorEventSubscribed:
		if ev.Subscribed == nil {
			missing = "subscribed"
		} else if h := ev.Subscribed.HeartbeatIntervalSeconds; h < 0 || h != h {
			return nil, fmt.Errorf("%w: bad heartbeat interval %v", ErrBadEvent, h)
		}
	case mesosv1.OperatorEventTaskAdded:
		if ev.TaskAdded == nil || ev.TaskAdded.Task.TaskID.Value == "" {
			missing = "task_added.task.task_id"
		}
	case mesosv1.OperatorEventTaskUpdated:
		if ev.TaskUpdated == nil || ev.TaskUpdated.Status.TaskID.Value == "" || ev.TaskUpdated.State == "" {
			missing = "task_updated.status.task_id or task_updated.state"
		}
	case mesosv1.OperatorEventAgentAdded:
		if ev.AgentAdded == nil || ev.AgentAdded.Agent.AgentInfo.ID == nil || ev.AgentAdded.Agent.AgentInfo.ID.Value == "" {
			missing = "agent_added.agent.agent_info.id"
		}
	case mesosv1.OperatorEventAgentRemoved:
		if ev.AgentRemoved == nil || ev.AgentRemoved.AgentID.Value == "" {
			missing = "agent_removed.agent_id"
		}
	case mesosv1.OperatorEventFrameworkAdded:
		if ev.FrameworkAdded == nil || fwID(&ev.FrameworkAdded.Framework) == "" {
			missing = "framework_added.framework.framework_info.id"
		}
	case mesosv1.OperatorEventFrameworkUpdated:
		if ev.FrameworkUpdated == nil || fwID(&ev.FrameworkUpdated.Framework) == "" {
			missing = "framework_updated.framework.framework_info.id"
		}
	case mesosv1.OperatorEventFrameworkRemoved:
		if ev.FrameworkRemoved == nil || ev.FrameworkRemoved.FrameworkInfo.ID == nil || ev.FrameworkRemoved.FrameworkInfo.ID.Value == "" {
			missing = "framework_removed.framework_info.id"
		}
	}
	if missing != "" {
		return nil, fmt.Errorf("%w: %s event without %s", ErrBadEvent, ev.Type, missing)
	}
	return &ev, nil
}

func fwID(f *mesosv1.OperatorFramework) string {
	if f.FrameworkInfo.ID == nil {
		return ""
	}
	return f.FrameworkInfo.ID.Value
}

// Subscribe opens one event stream on the master at masterURL (a base URL
// such as http://m1:5050) and calls fn for every event, HEARTBEATs
// included, in order. It returns when the stream ends (ErrStreamEnded),
// ctx is done (ctx's error), fn fails (fn's error), no record arrives for
// 3 heartbeat intervals (ErrMissedHeartbeat), or a record is bad.
// hc must not have a Timeout (a stream lasts); nil means
// http.DefaultClient.
func Subscribe(ctx context.Context, hc *http.Client, masterURL string, fn func(*mesosv1.OperatorEvent) error) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(missedHeartbeats*defaultHeartbeat, func() { cancel(ErrMissedHeartbeat) })
	defer watchdog.Stop()

	body := []byte(`{"type":"` + mesosv1.OperatorSubscribe + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(masterURL, "/")+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", masterURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", masterURL, causeOr(ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("subscribe to %s: %s: %s", masterURL, resp.Status, strings.TrimSpace(string(msg)))
	}
	interval := defaultHeartbeat
	rd := recordio.NewReader(resp.Body, maxEventBytes)
	for {
		rec, err := rd.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				return fmt.Errorf("subscribe to %s: %w", masterURL, ErrStreamEnded)
			}
			return fmt.Errorf("subscribe to %s: %w", masterURL, causeOr(ctx, err))
		}
		ev, err := DecodeEvent(rec)
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", masterURL, err)
		}
		if ev.Type == mesosv1.OperatorEventSubscribed && ev.Subscribed.HeartbeatIntervalSeconds > 0 {
			interval = time.Duration(min(ev.Subscribed.HeartbeatIntervalSeconds, maxHeartbeatSeconds) * float64(time.Second))
		}
		watchdog.Reset(missedHeartbeats * interval)
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// causeOr returns the context's cause (missed heartbeats, cancellation)
// when the context ended, else err.
func causeOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return err
}
