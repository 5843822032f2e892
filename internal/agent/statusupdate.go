package agent

import (
	"context"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
)

// The status update manager (reference §1.8, §11.3). Every update is
// checkpointed before it is sent (queueStatus), and the head of each task's
// queue is resent with a backoff doubling from StatusUpdateRetryMin to
// StatusUpdateRetryMax until the master forwards the framework's
// acknowledgement (acknowledge). Only heads are in flight, so a task's
// updates arrive in order. All due heads go up in one UPDATE call. After a
// (re-)registration every head is due at once.

// sendLoop sends due status updates while the agent is connected.
func (a *Agent) sendLoop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, next := a.dueUpdates(time.Now())
		if len(batch) > 0 {
			call := agentapi.Call{Type: agentapi.CallUpdate, Update: &agentapi.Update{Updates: batch}}
			if err := a.postCall(ctx, call); err != nil {
				a.log.Warn("send status updates", "count", len(batch), "error", err)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// dueUpdates collects the heads that are due at now, advancing their retry
// schedule, and returns when the next one falls due (zero: none pending).
func (a *Agent) dueUpdates(now time.Time) ([]agentapi.StatusUpdate, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.conn.connected {
		return nil, time.Time{}
	}
	var batch []agentapi.StatusUpdate
	var next time.Time
	for _, fw := range a.frameworks {
		if fw.shutdown {
			continue
		}
		for _, t := range fw.tasks {
			if len(t.rec.Pending) == 0 || !t.rec.Pending[0].durable || t.abandoned {
				continue
			}
			if !t.nextSend.After(now) {
				batch = append(batch, agentapi.StatusUpdate{FrameworkID: fw.id, Status: t.rec.Pending[0].Status})
				if t.backoff == 0 {
					t.backoff = a.cfg.StatusUpdateRetryMin
				} else {
					t.backoff = min(2*t.backoff, a.cfg.StatusUpdateRetryMax)
				}
				t.nextSend = now.Add(t.backoff)
			}
			if next.IsZero() || t.nextSend.Before(next) {
				next = t.nextSend
			}
		}
	}
	return batch, next
}

// resendAllLocked makes every head due now (after a re-registration or a
// reconciliation request). Call with mu held.
func (a *Agent) resendAllLocked(only map[string]bool) {
	for _, fw := range a.frameworks {
		for id, t := range fw.tasks {
			if only != nil && !only[id] {
				continue
			}
			t.nextSend = time.Time{}
			t.backoff = 0
		}
	}
}
