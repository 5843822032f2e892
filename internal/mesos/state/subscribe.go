package state

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// The operator event stream (v1 SUBSCRIBE).
//
// One hub per API turns published snapshots into events: a single goroutine,
// running only while someone is subscribed, wakes when the Source publishes
// (Notifier), diffs the new snapshot against the previous one ONCE, encodes
// each event ONCE and hands the frames to every subscriber's bounded queue.
// A subscriber whose queue is full is disconnected: it resubscribes and gets
// a fresh SUBSCRIBED, which is cheaper than buffering without bound.
//
//	POST /api/v1 {"type":"SUBSCRIBE"}
//	   │  hub.subscribe: under the lock, register and take hub.prev
//	   ▼
//	SUBSCRIBED(GET_STATE of hub.prev) ─▶ frames of every later diff ─▶ ...
//	                                     HEARTBEAT every interval
//
// The stream ends when the client goes away, when the subscriber falls
// behind, or when the snapshot shows that this master no longer leads (or
// leads a new term), so that clients resubscribe to the current leader.
//
// Standbys: the master mounts this API behind LeaderOnly, which proxies a
// standby's requests to the leader with httputil.ReverseProxy; a response
// without Content-Length is flushed at once by the proxy, so the stream
// passes through a standby unbuffered, and ends when the leader's does. A
// master that knows no leader answers SUBSCRIBE with 503.

// Notifier is implemented by a Source that can say when it publishes: the
// channel Changed returns is closed by the first publish after the call.
// SUBSCRIBE needs it (it answers 501 without); the master implements it.
type Notifier interface {
	Changed() <-chan struct{}
}

// SubscribeConfig tunes the operator event stream.
type SubscribeConfig struct {
	// Heartbeat is the interval of HEARTBEAT events (default 15 s, as Mesos).
	Heartbeat time.Duration
	// Queue is how many frames a subscriber may fall behind before it is
	// disconnected (default 4096).
	Queue int
}

const (
	defaultHeartbeat = 15 * time.Second
	defaultQueue     = 4096
)

// SetSubscribeConfig replaces the stream's configuration. Call it before
// serving requests.
func (a *API) SetSubscribeConfig(c SubscribeConfig) {
	if c.Heartbeat <= 0 {
		c.Heartbeat = defaultHeartbeat
	}
	if c.Queue <= 0 {
		c.Queue = defaultQueue
	}
	a.hub.cfg = c
}

// hub fans one stream of snapshot diffs out to the subscribers.
type hub struct {
	cfg SubscribeConfig

	mu   sync.Mutex
	subs map[*subscription]struct{}
	// prev is the snapshot the last fanned-out frames lead to; a new
	// subscriber's SUBSCRIBED carries it.
	prev   *Snapshot
	cancel context.CancelFunc // non-nil while the loop runs
	done   chan struct{}      // closed when the current loop has exited

	// subscribed caches the encoded SUBSCRIBED of one snapshot.
	subscribedSnap *Snapshot
	subscribed     []byte
}

// subscription is one client's queue.
type subscription struct {
	ch  chan []byte
	end chan struct{} // closed by the hub: the stream must end
}

// subscribe registers a subscriber and returns the snapshot its stream
// starts from.
func (h *hub) subscribe(src Source, n Notifier, log logger) (*subscription, *Snapshot) {
	s := &subscription{ch: make(chan []byte, h.cfg.Queue), end: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		changed := n.Changed() // before Current, so no publish is missed
		h.prev = src.Current()
		h.cancel = cancel
		h.done = make(chan struct{})
		if h.subs == nil {
			h.subs = map[*subscription]struct{}{}
		}
		go h.loop(ctx, src, n, changed, h.prev, h.done, log)
	}
	h.subs[s] = struct{}{}
	return s, h.prev
}

// remove drops s (once); the loop stops with the last subscriber. kick
// also ends s's stream.
func (h *hub) remove(s *subscription, kick bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s, kick)
}

func (h *hub) removeLocked(s *subscription, kick bool) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if kick {
		close(s.end)
	}
	if len(h.subs) == 0 && h.cancel != nil {
		h.cancel()
		h.cancel = nil
		h.subscribedSnap, h.subscribed = nil, nil
	}
}

// logger is the part of slog.Logger the hub uses.
type logger interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
	Debug(msg string, args ...any)
}

func (h *hub) loop(ctx context.Context, src Source, n Notifier, changed <-chan struct{}, prev *Snapshot, done chan struct{}, log logger) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		changed = n.Changed()
		next := src.Current()
		if next == prev {
			continue
		}
		ended := !next.IsLeader || next.Self.ID != prev.Self.ID || !next.ElectedTime.Equal(prev.ElectedTime)
		var frames [][]byte
		if !ended {
			for _, ev := range diffSnapshots(prev, next) {
				b, err := json.Marshal(&ev)
				if err != nil { // cannot happen with these types; resync everyone
					log.Error("encode operator event", "type", ev.Type, "error", err)
					ended = true
					break
				}
				frames = append(frames, b)
			}
		}
		prev = next
		h.mu.Lock()
		if ctx.Err() != nil { // the last subscriber left meanwhile
			h.mu.Unlock()
			return
		}
		h.prev = next
		for s := range h.subs {
			if ended {
				h.removeLocked(s, true)
				continue
			}
			for _, b := range frames {
				select {
				case s.ch <- b:
				default:
					log.Warn("operator subscriber fell behind; disconnecting it", "queue", cap(s.ch))
					h.removeLocked(s, true)
				}
				if _, ok := h.subs[s]; !ok {
					break
				}
			}
		}
		h.mu.Unlock()
	}
}

// subscribedFrame returns the encoded SUBSCRIBED for s, shared by the
// subscribers that start from the same snapshot.
func (a *API) subscribedFrame(s *Snapshot) ([]byte, error) {
	h := &a.hub
	h.mu.Lock()
	if h.subscribedSnap == s {
		b := h.subscribed
		h.mu.Unlock()
		return b, nil
	}
	h.mu.Unlock()
	rd := a.renderingFor(s)
	resp := operatorResponse(mesosv1.OperatorGetState, rd)
	b, err := json.Marshal(&mesosv1.OperatorEvent{
		Type: mesosv1.OperatorEventSubscribed,
		Subscribed: &mesosv1.OperatorSubscribed{
			GetState:                 *resp.GetState,
			HeartbeatIntervalSeconds: h.cfg.Heartbeat.Seconds(),
		},
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.cancel != nil && h.prev == s { // keep only while it can be reused
		h.subscribedSnap, h.subscribed = s, b
	}
	h.mu.Unlock()
	return b, nil
}

// handleSubscribe serves the operator event stream.
func (a *API) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	n, ok := a.src.(Notifier)
	if !ok {
		http.Error(w, "Call type SUBSCRIBE is not implemented", http.StatusNotImplemented)
		return
	}
	h := &a.hub
	sub, snap := h.subscribe(a.src, n, a.log)
	defer h.remove(sub, false)
	if !snap.IsLeader {
		http.Error(w, "Not the leading master", http.StatusServiceUnavailable)
		return
	}
	first, err := a.subscribedFrame(snap)
	if err != nil {
		a.log.Error("render SUBSCRIBED", "error", err)
		http.Error(w, "Failed to render the response", http.StatusInternalServerError)
		return
	}
	heartbeat, _ := json.Marshal(mesosv1.OperatorEvent{Type: mesosv1.OperatorEventHeartbeat})

	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Streams are exempt from the server's read and write timeouts.
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	rw := recordio.NewWriter(w) // flushes after every record
	if err := rw.WriteRecord(first); err != nil {
		return
	}
	a.log.Debug("operator subscriber connected")
	tick := time.NewTicker(h.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case b := <-sub.ch:
			if err := rw.WriteRecord(b); err != nil {
				return
			}
		case <-tick.C:
			if err := rw.WriteRecord(heartbeat); err != nil {
				return
			}
		case <-sub.end:
			return
		case <-r.Context().Done():
			return
		}
	}
}
