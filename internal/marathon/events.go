package marathon

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// Marathon event types (reference §2.7).
const (
	EventStreamAttached        = "event_stream_attached"
	EventStreamDetached        = "event_stream_detached"
	EventAPIPost               = "api_post_event"
	EventStatusUpdate          = "status_update_event"
	EventInstanceChanged       = "instance_changed_event"
	EventUnknownInstance       = "unknown_instance_terminated_event"
	EventInstanceHealthChanged = "instance_health_changed_event"
	EventAppTerminated         = "app_terminated_event"
	EventAddHealthCheck        = "add_health_check_event"
	EventRemoveHealthCheck     = "remove_health_check_event"
	EventFailedHealthCheck     = "failed_health_check_event"
	EventHealthStatusChanged   = "health_status_changed_event"
	EventUnhealthyInstanceKill = "unhealthy_instance_kill_event"
	EventGroupChangeSuccess    = "group_change_success"
	EventGroupChangeFailed     = "group_change_failed"
	EventDeploymentInfo        = "deployment_info"
	EventDeploymentSuccess     = "deployment_success"
	EventDeploymentFailed      = "deployment_failed"
	EventDeploymentStepSuccess = "deployment_step_success"
	EventDeploymentStepFailure = "deployment_step_failure"
	EventFrameworkMessage      = "framework_message_event"
)

// subscriberBuffer is how many events a slow subscriber may lag.
const subscriberBuffer = 1024

// bus fans events out to subscribers. Publishing never blocks: a full
// subscriber misses the event.
type bus struct {
	mu   sync.Mutex
	subs map[chan v2.Event]struct{}
}

func newBus() *bus { return &bus{subs: map[chan v2.Event]struct{}{}} }

func (b *bus) subscribe(ctx context.Context) <-chan v2.Event {
	ch := make(chan v2.Event, subscriberBuffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch
}

// publish sends an event of type typ whose payload is fields plus
// eventType and timestamp.
func (b *bus) publish(typ string, now time.Time, fields map[string]any) {
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n == 0 {
		return
	}
	payload := make(map[string]any, len(fields)+2)
	for k, v := range fields {
		payload[k] = v
	}
	payload["eventType"] = typ
	payload["timestamp"] = isoTime(now)
	data, err := json.Marshal(payload)
	if err != nil {
		return
	}
	ev := v2.Event{Type: typ, Data: data}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (b *bus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
