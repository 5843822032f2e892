package simagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// maxEventBytes bounds one event from the master.
const maxEventBytes = 64 << 20

// errShutdown ends a session after the master removed the agent.
var errShutdown = errors.New("agent removed by the master")

// simAgent is one simulated agent. Its stream goroutine (connectLoop)
// applies events; workers send its calls; the pump decides when they are
// due. Fields below mu are guarded by it.
type simAgent struct {
	s        *Simulator
	index    int
	hostname string
	cz       *fake.Containerizer
	queued   atomic.Bool // in Simulator.work
	// sending is held while a worker sends this agent's calls, so they go
	// out one at a time, in order, as a real agent's do. Without it an
	// update resent on one worker could reach the master after the next
	// update of the same task sent by another (the acknowledgement of the
	// first copy came meanwhile): at 10,000 agents 49 tasks went RUNNING,
	// then STARTING again, in the master and in Marathon.
	sending sync.Mutex

	mu            sync.Mutex
	id            string
	connected     bool
	streamID      string
	base          string // the leading master's base URL
	cancelSession context.CancelFunc
	pausedUntil   time.Time
	gone          bool      // Vanish: never connects or calls again
	subscribedAt  time.Time // the last SUBSCRIBED
	lastRecv      time.Time
	silence       time.Duration
	heartbeat     time.Duration
	nextHeartbeat time.Time
	nextUpdate    time.Time // earliest head due; zero: none pending
	frameworks    map[string]*simFramework
}

// simFramework is a framework with tasks on the agent.
type simFramework struct {
	info  mesosv1.FrameworkInfo
	tasks map[string]*simTask
}

func newSimAgent(s *Simulator, i int, hostname string) *simAgent {
	return &simAgent{
		s: s, index: i, hostname: hostname,
		cz:         fake.New(fake.Config{}),
		frameworks: map[string]*simFramework{},
	}
}

// connectLoop keeps the agent subscribed to the leading master; which
// master it tries next and how long it waits first is agentapi.Reconnect's
// choice (a lost stream is retried quickly, a refused master skipped, other
// failures back off, jittered, up to RegistrationBackoffMax).
func (a *simAgent) connectLoop(ctx context.Context) {
	rc := agentapi.NewReconnect(a.s.cfg.Masters, a.index, a.s.cfg.RegistrationBackoffMin, a.s.cfg.RegistrationBackoffMax, a.s.jitter)
	for {
		a.mu.Lock()
		paused, gone := time.Until(a.pausedUntil), a.gone
		a.mu.Unlock()
		if gone {
			return
		}
		if paused > 0 && !sleep(ctx, paused) {
			return
		}
		m := rc.Next()
		registered, base, err := a.session(ctx, m)
		if ctx.Err() != nil || a.isGone() {
			return
		}
		var d time.Duration
		if registered {
			a.s.stats.streamsLost.Add(1)
			d = rc.Lost(base)
		} else {
			a.s.stats.subscribeErrors.Add(1)
			d = rc.Failed(m, err)
		}
		if errors.Is(err, errShutdown) {
			continue
		}
		a.s.log.Debug("master connection ended", "agent", a.hostname, "error", err, "retry_in", d)
		if d > 0 && !sleep(ctx, d) {
			return
		}
	}
}

func (a *simAgent) isGone() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gone
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// agentInfo describes the agent; call with mu held.
func (a *simAgent) agentInfoLocked() mesosv1.AgentInfo {
	info := mesosv1.AgentInfo{
		Hostname:   a.hostname,
		Port:       5051,
		Resources:  a.s.resources,
		Attributes: a.s.attributes,
	}
	if a.id != "" {
		info.ID = &mesosv1.ID{Value: a.id}
	}
	return info
}

// subscribeCall is a registration, or with a known id a re-registration
// reporting every task and its framework.
func (a *simAgent) subscribeCall() agentapi.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	sub := &agentapi.Subscribe{
		ProtocolVersion: agentapi.Version,
		AgentInfo:       a.agentInfoLocked(),
		Version:         version.Version,
		Runtimes:        []string{fake.Name},
		Endpoint:        fmt.Sprintf("%s:5051", a.hostname),
	}
	for fid, fw := range a.frameworks {
		info := fw.info
		if info.ID == nil {
			info.ID = &mesosv1.ID{Value: fid}
		}
		sub.Frameworks = append(sub.Frameworks, info)
		for _, t := range fw.tasks {
			sub.Tasks = append(sub.Tasks, agentapi.Task{
				Info: t.info, FrameworkID: fid, State: t.latest.State,
				Statuses: []mesosv1.TaskStatus{t.latest}, ContainerID: t.cid,
			})
		}
	}
	return agentapi.Call{Type: agentapi.CallSubscribe, AgentID: a.id, Subscribe: sub}
}

// session runs one subscription to master m until it fails.
func (a *simAgent) session(ctx context.Context, m string) (registered bool, base string, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	if a.gone {
		a.mu.Unlock()
		return false, base, errors.New("agent vanished")
	}
	a.cancelSession = cancel
	// The watchdog judges a stream from its first byte on, never by the
	// last one of an earlier stream (that would cancel this attempt while
	// it waits its turn to connect).
	a.lastRecv = time.Time{}
	a.mu.Unlock()

	// Only ConnectConcurrency agents wait for SUBSCRIBED at once.
	select {
	case a.s.connect <- struct{}{}:
	case <-sctx.Done():
		return false, base, sctx.Err()
	}
	held := true
	release := func() {
		if held {
			<-a.s.connect
			held = false
		}
	}
	defer release()

	resp, base, err := agentapi.OpenStream(sctx, a.s.streams, m, a.subscribeCall(), 30*time.Second, cancel)
	if err != nil {
		return false, base, err
	}
	defer resp.Body.Close()
	a.s.stats.subscribes.Add(1)

	a.mu.Lock()
	a.lastRecv = time.Now()
	a.silence = 30 * time.Second // until SUBSCRIBED names the interval
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.connected = false
		a.cancelSession = nil
		a.mu.Unlock()
	}()

	r := recordio.NewReader(resp.Body, maxEventBytes)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream closed by the master")
			}
			if sctx.Err() != nil && ctx.Err() == nil {
				err = errors.New("stream silent or agent disconnected")
			}
			return registered, base, err
		}
		a.s.stats.events.Add(1)
		var ev agentapi.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			return registered, base, fmt.Errorf("decode event: %w", err)
		}
		a.mu.Lock()
		a.lastRecv = time.Now()
		a.mu.Unlock()
		if !registered {
			if ev.Type != agentapi.EventSubscribed || ev.Subscribed == nil || ev.Subscribed.AgentID == "" {
				return false, base, fmt.Errorf("first event from %s is %s, want SUBSCRIBED with an agent id", base, ev.Type)
			}
			a.subscribed(ev.Subscribed, base)
			registered = true
			release()
			continue
		}
		if err := a.handleEvent(sctx, ev); err != nil {
			return registered, base, err
		}
	}
}

// subscribed records a (re-)registration: every pending head is due now.
func (a *simAgent) subscribed(s *agentapi.Subscribed, base string) {
	now := time.Now()
	a.mu.Lock()
	a.id = s.AgentID
	a.connected, a.streamID, a.base = !a.gone, s.StreamID, base
	a.subscribedAt = now
	hb := a.s.cfg.HeartbeatInterval
	if hb == 0 {
		hb = time.Duration(s.HeartbeatIntervalSeconds * float64(time.Second))
	}
	if hb <= 0 {
		hb = 5 * time.Second
	}
	a.heartbeat = hb
	// A jittered first heartbeat spreads 10,000 agents over the interval.
	a.nextHeartbeat = now.Add(a.s.jitter(2 * hb))
	if ms := time.Duration(s.HeartbeatIntervalSeconds * float64(time.Second)); ms > 0 {
		a.silence = 3 * ms
	}
	a.resendAllLocked(nil)
	a.mu.Unlock()
	a.s.enqueue(a)
}

// handleEvent applies one event from the master.
func (a *simAgent) handleEvent(ctx context.Context, ev agentapi.Event) error {
	switch ev.Type {
	case agentapi.EventHeartbeat:
	case agentapi.EventSubscribed:
		if ev.Subscribed != nil {
			a.subscribed(ev.Subscribed, a.baseURL())
		}
	case agentapi.EventLaunch:
		if ev.Launch != nil {
			a.launch(ctx, ev.Launch.Framework, ev.Launch.Tasks, "")
		}
	case agentapi.EventLaunchGroup:
		if ev.LaunchGroup != nil {
			a.launch(ctx, ev.LaunchGroup.Framework, ev.LaunchGroup.TaskGroup.Tasks,
				"Task groups (LAUNCH_GROUP, pods) are not supported by this agent yet")
		}
	case agentapi.EventKill:
		if ev.Kill != nil {
			a.kill(ctx, ev.Kill.FrameworkID, ev.Kill.TaskID, ev.Kill.KillPolicy)
		}
	case agentapi.EventAcknowledge:
		if ev.Acknowledge != nil {
			a.acknowledge(ev.Acknowledge)
		}
	case agentapi.EventShutdownFramework:
		if ev.ShutdownFramework != nil {
			a.shutdownFramework(ctx, ev.ShutdownFramework.FrameworkID)
		}
	case agentapi.EventReconcile:
		a.reconcile(ctx, ev.Reconcile)
	case agentapi.EventMessage:
		// The command executor takes no framework messages.
	case agentapi.EventShutdown:
		a.mu.Lock()
		fids := make([]string, 0, len(a.frameworks))
		for fid := range a.frameworks {
			fids = append(fids, fid)
		}
		a.mu.Unlock()
		for _, fid := range fids {
			a.shutdownFramework(ctx, fid)
		}
		a.mu.Lock()
		a.id = ""
		a.mu.Unlock()
		return errShutdown
	default:
		a.s.log.Warn("unknown event from master", "agent", a.hostname, "type", ev.Type)
	}
	return nil
}

func (a *simAgent) baseURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.base
}

// due reports whether the agent has a heartbeat or update due at now, and
// cancels a stream that has been silent too long. Called by the pump.
func (a *simAgent) due(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancelSession != nil && !a.lastRecv.IsZero() && a.silence > 0 && now.Sub(a.lastRecv) > a.silence {
		a.s.log.Debug("no event from the master; reconnecting", "agent", a.hostname, "quiet", now.Sub(a.lastRecv))
		a.cancelSession()
		a.cancelSession = nil
		return false
	}
	if !a.connected || a.gone {
		return false
	}
	return !a.nextHeartbeat.After(now) || (!a.nextUpdate.IsZero() && !a.nextUpdate.After(now))
}

// sendDue sends a HEARTBEAT if one is due and one UPDATE with every due
// head of a task's update queue. Called by a worker.
func (a *simAgent) sendDue(ctx context.Context, now time.Time) {
	a.sending.Lock()
	defer a.sending.Unlock()
	a.mu.Lock()
	if !a.connected || a.gone {
		a.mu.Unlock()
		return
	}
	base, stream, id := a.base, a.streamID, a.id
	heartbeat := !a.nextHeartbeat.After(now)
	if heartbeat {
		a.nextHeartbeat = now.Add(a.heartbeat)
	}
	batch := a.dueUpdatesLocked(now)
	a.mu.Unlock()

	if len(batch) > 0 {
		call := agentapi.Call{Type: agentapi.CallUpdate, AgentID: id, Update: &agentapi.Update{Updates: batch}}
		if err := a.s.post(ctx, base, stream, call); err != nil {
			a.s.log.Debug("send status updates", "agent", a.hostname, "count", len(batch), "error", err)
		} else {
			a.s.stats.updatesSent.Add(int64(len(batch)))
		}
	}
	if heartbeat && len(batch) == 0 {
		// Any call counts as a sign of life; an UPDATE just sent is one.
		if err := a.s.post(ctx, base, stream, agentapi.Call{Type: agentapi.CallHeartbeat, AgentID: id}); err != nil {
			a.s.log.Debug("heartbeat", "agent", a.hostname, "error", err)
		} else {
			a.s.stats.heartbeats.Add(1)
		}
	}
}

// post sends one call to the master at base on stream.
func (s *Simulator) post(ctx context.Context, base, stream string, call agentapi.Call) error {
	s.stats.calls.Add(1)
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("encode %s call: %w", call.Type, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+agentapi.Path, bytes.NewReader(body))
	if err != nil {
		s.stats.callErrors.Add(1)
		return fmt.Errorf("%s call: %w", call.Type, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(agentapi.StreamIDHeader, stream)
	resp, err := s.calls.Do(req)
	if err != nil {
		s.stats.callErrors.Add(1)
		return fmt.Errorf("%s call: %w", call.Type, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.stats.callErrors.Add(1)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s call: %s: %s", call.Type, resp.Status, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return nil
}
