package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// maxEventBytes bounds one event from the master.
const maxEventBytes = 64 << 20

// errShutdown ends a session after the master removed this agent.
var errShutdown = errors.New("agent removed by the master")

// connectLoop keeps the agent subscribed to the leading master. Which master
// it tries next and how long it waits first is agentapi.Reconnect's choice
// (each master redirects to the leader; a lost stream is retried quickly, a
// refused master skipped, other failures back off, jittered, up to
// RegistrationBackoffMax).
func (a *Agent) connectLoop(ctx context.Context) error {
	rc := agentapi.NewReconnect(a.cfg.masterURLs(), 0, a.cfg.RegistrationBackoffMin, a.cfg.RegistrationBackoffMax, nil)
	for {
		m := rc.Next()
		registered, base, err := a.session(ctx, m)
		if ctx.Err() != nil {
			return nil
		}
		var d time.Duration
		if registered {
			d = rc.Lost(base)
		} else {
			d = rc.Failed(m, err)
		}
		if errors.Is(err, errShutdown) {
			continue // register anew at once
		}
		a.log.Warn("master connection ended", "master", m, "error", err, "retry_in", d)
		if d <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

// subscribeCall builds the SUBSCRIBE call: a registration, or with a known
// agent id a re-registration reporting every task and its framework.
func (a *Agent) subscribeCall() agentapi.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	sub := &agentapi.Subscribe{
		ProtocolVersion: agentapi.Version,
		AgentInfo:       a.agentInfo(a.agentID),
		Version:         version.Version,
		Endpoint:        a.endpoint,
	}
	// Only the runtimes that work now (the last probe) are advertised.
	for _, ri := range a.runtimes {
		if ri.Available {
			sub.Runtimes = append(sub.Runtimes, ri.Name)
		}
	}
	for _, fw := range a.frameworks {
		if fw.shutdown {
			continue
		}
		info := fw.info
		if info.ID == nil {
			info.ID = &mesosv1.ID{Value: fw.id}
		}
		sub.Frameworks = append(sub.Frameworks, info)
		for _, t := range fw.tasks {
			if t.abandoned {
				continue
			}
			sub.Tasks = append(sub.Tasks, agentapi.Task{
				Info:        t.rec.Task,
				FrameworkID: fw.id,
				State:       t.latestState(),
				Statuses:    append([]mesosv1.TaskStatus{}, t.rec.Statuses...),
				ContainerID: t.rec.ContainerID,
			})
		}
	}
	return agentapi.Call{Type: agentapi.CallSubscribe, AgentID: a.agentID, Subscribe: sub}
}

// probeRuntimes asks every runtime whether it works (a runtime that cannot
// tell always does) and keeps the answers for SUBSCRIBE and /state.
func (a *Agent) probeRuntimes(ctx context.Context) {
	infos := make([]containerizer.RuntimeInfo, 0, len(a.conts))
	for _, name := range a.runtimeNames() {
		ri := containerizer.RuntimeInfo{Name: name, Available: true}
		if p, ok := a.conts[name].(containerizer.Prober); ok {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ri = p.Probe(pctx)
			cancel()
			ri.Name = name
			if !ri.Available {
				a.log.Warn("container runtime does not work; not advertised", "runtime", name, "error", ri.Message)
			}
		}
		infos = append(infos, ri)
	}
	a.mu.Lock()
	a.runtimes = infos
	a.mu.Unlock()
}

// session runs one subscription to master m until it fails. registered
// reports whether the master accepted the agent.
func (a *Agent) session(ctx context.Context, m string) (registered bool, base string, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.probeRuntimes(sctx)
	// A master that accepts the connection but never answers must not
	// hold the agent: give up on the response headers after a while.
	resp, base, err := agentapi.OpenStream(sctx, a.http, m, a.subscribeCall(), max(3*a.cfg.HeartbeatInterval, 10*time.Second), cancel)
	if err != nil {
		return false, base, err
	}
	defer resp.Body.Close()

	events := make(chan agentapi.Event)
	readErr := make(chan error, 1)
	// The watchdog judges the stream by when bytes last arrived, not by
	// when the agent got round to an event: handling one (a checkpoint)
	// may take longer than the master's heartbeat interval.
	var lastRecv atomic.Int64
	lastRecv.Store(time.Now().UnixNano())
	go func() {
		r := recordio.NewReader(resp.Body, maxEventBytes)
		for {
			rec, err := r.ReadRecord()
			lastRecv.Store(time.Now().UnixNano())
			if err != nil {
				readErr <- err
				return
			}
			var ev agentapi.Event
			if err := json.Unmarshal(rec, &ev); err != nil {
				readErr <- fmt.Errorf("decode event: %w", err)
				return
			}
			select {
			case events <- ev:
			case <-sctx.Done():
				readErr <- sctx.Err()
				return
			}
		}
	}()
	defer func() {
		cancel()
		resp.Body.Close()
		<-readErr
		a.mu.Lock()
		a.conn.connected = false
		a.mu.Unlock()
	}()

	hb := a.cfg.HeartbeatInterval
	silence := 3 * hb
	watchdog := time.NewTicker(hb / 2)
	defer watchdog.Stop()
	ticker := time.NewTicker(hb)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return registered, base, ctx.Err()
		case err := <-readErr:
			readErr <- err // for the deferred drain
			if errors.Is(err, io.EOF) {
				err = errors.New("stream closed by the master")
			}
			return registered, base, err
		case <-watchdog.C:
			if quiet := time.Since(time.Unix(0, lastRecv.Load())); quiet > silence {
				return registered, base, fmt.Errorf("no event from the master for %s", quiet.Round(time.Millisecond))
			}
		case <-ticker.C:
			if registered {
				a.goTask(func(context.Context) {
					if err := a.postCall(sctx, agentapi.Call{Type: agentapi.CallHeartbeat}); err != nil && sctx.Err() == nil {
						a.log.Debug("heartbeat", "error", err)
					}
				})
			}
		case ev := <-events:
			if ev.Type == agentapi.EventSubscribed && ev.Subscribed != nil {
				if s := time.Duration(ev.Subscribed.HeartbeatIntervalSeconds * float64(time.Second)); 3*s > silence {
					silence = 3 * s
				}
			}
			if !registered && ev.Type != agentapi.EventSubscribed {
				return false, base, fmt.Errorf("first event from %s is %s, want SUBSCRIBED", base, ev.Type)
			}
			if ev.Type == agentapi.EventSubscribed {
				if err := a.subscribed(ev.Subscribed, base); err != nil {
					return registered, base, err
				}
				registered = true
				continue
			}
			if err := a.handleEvent(ctx, ev); err != nil {
				return registered, base, err
			}
		}
	}
}

// subscribed records a (re-)registration.
func (a *Agent) subscribed(s *agentapi.Subscribed, base string) error {
	if s == nil || s.AgentID == "" {
		return errors.New("SUBSCRIBED without an agent id")
	}
	a.mu.Lock()
	old := a.agentID
	a.agentID = s.AgentID
	a.conn = connState{connected: true, streamID: s.StreamID, masterBase: base, masterInfo: s.MasterInfo}
	a.resendAllLocked(nil)
	a.mu.Unlock()
	if old != s.AgentID {
		if err := a.ckpt.commit(write{name: agentFile, data: agentRecord{AgentID: s.AgentID}}); err != nil {
			return fmt.Errorf("checkpoint agent id: %w", err)
		}
		if err := a.linkAgentDir(s.AgentID); err != nil {
			a.log.Warn("link slaves/latest", "error", err)
		}
	}
	if old == "" || old != s.AgentID {
		a.log.Info("registered with master", "agent_id", s.AgentID, "master", base, "previous_agent_id", old)
	} else {
		a.log.Info("re-registered with master", "agent_id", s.AgentID, "master", base)
	}
	a.poke()
	return nil
}

// linkAgentDir creates slaves/<id> and points slaves/latest at it.
func (a *Agent) linkAgentDir(id string) error {
	dir := filepath.Join(a.cfg.WorkDir, "slaves", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return relink(filepath.Join(a.cfg.WorkDir, "slaves", "latest"), id)
}

// relink atomically points the symlink link at target.
func relink(link, target string) error {
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// handleEvent applies one event from the master.
func (a *Agent) handleEvent(ctx context.Context, ev agentapi.Event) error {
	switch ev.Type {
	case agentapi.EventHeartbeat:
	case agentapi.EventLaunch:
		if ev.Launch != nil {
			a.launch(ev.Launch)
		}
	case agentapi.EventLaunchGroup:
		if ev.LaunchGroup != nil {
			a.launchGroup(ev.LaunchGroup)
		}
	case agentapi.EventKill:
		if ev.Kill != nil {
			a.kill(ev.Kill)
		}
	case agentapi.EventAcknowledge:
		if ev.Acknowledge != nil {
			a.acknowledge(ev.Acknowledge)
		}
	case agentapi.EventShutdownFramework:
		if ev.ShutdownFramework != nil {
			a.shutdownFramework(ev.ShutdownFramework.FrameworkID)
		}
	case agentapi.EventReconcile:
		a.reconcile(ev.Reconcile)
	case agentapi.EventMessage:
		// The built-in command executor takes no framework messages.
		a.log.Debug("dropping framework message for the command executor")
	case agentapi.EventShutdown:
		msg := ""
		if ev.Shutdown != nil {
			msg = ev.Shutdown.Message
		}
		a.shutdownAgent(ctx, msg)
		return fmt.Errorf("%w: %s", errShutdown, msg)
	default:
		a.log.Warn("unknown event from master", "type", ev.Type)
	}
	return nil
}

// reconcile resends the latest status of the listed tasks (all if empty):
// pending heads go again now; tasks with nothing pending get their latest
// status again, without a uuid (nothing to acknowledge).
func (a *Agent) reconcile(r *agentapi.Reconcile) {
	var only map[string]bool
	if r != nil && len(r.TaskIDs) > 0 {
		only = map[string]bool{}
		for _, id := range r.TaskIDs {
			only[id] = true
		}
	}
	a.mu.Lock()
	a.resendAllLocked(only)
	var batch []agentapi.StatusUpdate
	for _, fw := range a.frameworks {
		for id, t := range fw.tasks {
			if (only != nil && !only[id]) || len(t.rec.Pending) > 0 || len(t.rec.Statuses) == 0 {
				continue
			}
			st := t.rec.Statuses[len(t.rec.Statuses)-1]
			st.UUID = nil
			batch = append(batch, agentapi.StatusUpdate{FrameworkID: fw.id, Status: st})
		}
	}
	a.mu.Unlock()
	a.poke()
	if len(batch) > 0 {
		a.goTask(func(ctx context.Context) {
			call := agentapi.Call{Type: agentapi.CallUpdate, Update: &agentapi.Update{Updates: batch}}
			if err := a.postCall(ctx, call); err != nil {
				a.log.Warn("send reconciliation updates", "error", err)
			}
		})
	}
}

// errNotConnected is returned by postCall while no master stream is up.
var errNotConnected = errors.New("not connected to a master")

// postCall sends one call to the master the agent is subscribed to.
func (a *Agent) postCall(ctx context.Context, call agentapi.Call) error {
	a.mu.Lock()
	conn := a.conn
	call.AgentID = a.agentID
	a.mu.Unlock()
	if !conn.connected {
		return errNotConnected
	}
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("encode %s call: %w", call.Type, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, conn.masterBase+agentapi.Path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s call: %w", call.Type, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(agentapi.StreamIDHeader, conn.streamID)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s call: %w", call.Type, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s call: %s: %s", call.Type, resp.Status, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return nil
}

// hostOf returns the host part of a URL, "" if it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
