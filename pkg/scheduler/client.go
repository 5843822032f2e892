// Package scheduler is a Go client for the Mesos v1 scheduler HTTP API
// (POST /api/v1/scheduler): it subscribes a framework, finds and follows the
// leading master, reads the RecordIO event stream, re-subscribes after stream
// loss or master failover, and sends calls (ACCEPT, DECLINE, KILL, ...) on
// separate connections with the stream's Mesos-Stream-Id.
//
// It is used by Basalt's own frameworks and by outside ones, so it must not
// import internal packages, and it holds no framework logic: what to launch,
// what to persist and when to reconcile belong to the caller's handler.
//
// The model: Run(ctx, handler) calls handler for every event, one at a time,
// in stream order, on Run's goroutine. The handler may make calls on the
// client. A SUBSCRIBED event starts every (re)subscription; offers received
// before it are void, and a framework should reconcile after it.
//
//	       ┌────────────── backoff ◄────────────────┐
//	       ▼                                        │ stream ended, heartbeat
//	try masters in turn ──307──► follow Location    │ timeout, 307 on a call,
//	       │ 200 + Mesos-Stream-Id                  │ connection error
//	       ▼                                        │
//	SUBSCRIBED ─► events ─► handler (+auto-ack) ────┘
//	       │ ERROR event / handler error / ctx done / Teardown
//	       ▼
//	    Run returns
package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// Handler receives each event. Returning an error stops Run with that error
// (wrapped); an UPDATE is acknowledged automatically only if the handler
// returned nil for it.
type Handler func(ctx context.Context, c *Client, ev mesosv1.Event) error

// maxRedirects bounds how many 307s one subscription attempt follows.
const maxRedirects = 5

// maxHeartbeatSeconds caps a heartbeat interval from the master (a day), so a
// silly value cannot disable liveness checking or overflow a Duration.
const maxHeartbeatSeconds = 86400

// maxErrorBody bounds how much of an error response is kept.
const maxErrorBody = 4 << 10

var (
	errHeartbeatTimeout = errors.New("no event within the heartbeat timeout")
	errStreamEnded      = errors.New("event stream ended")
)

// Client is a scheduler API client for one framework. Its methods are safe
// for concurrent use; Run must not be called twice at the same time.
type Client struct {
	cfg     Config
	log     *slog.Logger
	masters []*url.URL
	stream  *http.Client // no timeout, no redirects
	calls   *http.Client // no redirects

	running atomic.Bool

	mu          sync.Mutex
	framework   mesosv1.FrameworkInfo // ID set after the first SUBSCRIBED
	leader      *url.URL              // endpoint the current/last stream is on
	streamID    string                // "" when not subscribed
	subscribed  bool                  // SUBSCRIBED received on the current stream
	cancelStrm  context.CancelCauseFunc
	teardown    *teardownState // set while a TEARDOWN is in flight or succeeded
	heartbeatIv time.Duration
}

// New validates cfg and returns a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	cfg.withDefaults()
	c := &Client{cfg: cfg, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "scheduler_client", "framework", cfg.Framework.Name)
	for _, m := range cfg.Masters {
		u, _ := endpointFor(m) // validated above
		c.masters = append(c.masters, u)
	}
	base := cfg.HTTPClient
	if base == nil {
		// Calls run concurrently (launches, kills, acknowledgements): keep
		// more than net/http's 2 idle connections, or each burst dials anew
		// and leaves sockets in TIME_WAIT.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		base = &http.Client{Transport: t}
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	calls := *base
	calls.CheckRedirect = noRedirect
	stream := calls
	stream.Timeout = 0 // the stream lives as long as the subscription
	c.calls, c.stream = &calls, &stream
	c.framework = cloneFramework(cfg.Framework)
	return c, nil
}

func cloneFramework(f mesosv1.FrameworkInfo) mesosv1.FrameworkInfo {
	if f.ID != nil {
		id := *f.ID
		f.ID = &id
	}
	return f
}

// FrameworkID returns the framework's ID: the one assigned by the first
// SUBSCRIBED, or Config.Framework.ID, or "" before either.
func (c *Client) FrameworkID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.framework.ID == nil {
		return ""
	}
	return c.framework.ID.Value
}

// Leader returns the scheduler endpoint URL of the master the client is (or
// was last) subscribed to, or "" if it never subscribed.
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == nil {
		return ""
	}
	return c.leader.String()
}

// Run subscribes and delivers events to h until ctx is done (returns nil),
// the framework is torn down by Teardown (returns nil), the master sends an
// ERROR event (returns an error wrapping ErrFrameworkRemoved), h returns an
// error, or a master rejects SUBSCRIBE with a 4xx that retrying cannot fix.
// Lost streams, missed heartbeats and leader changes are handled inside by
// re-subscribing with the framework ID, with jittered exponential backoff.
func (c *Client) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("scheduler: nil handler")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("scheduler: Run is already running")
	}
	defer c.running.Store(false)

	delay := c.cfg.MinBackoff
	for {
		subscribed, err := c.subscribeRound(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		// The master may close the stream before the TEARDOWN call returns:
		// wait for its outcome before deciding to re-subscribe.
		c.mu.Lock()
		td := c.teardown
		c.mu.Unlock()
		if td != nil {
			select {
			case <-td.done:
			case <-ctx.Done():
				return nil
			}
			if td.ok {
				c.log.Info("framework torn down", "framework_id", c.FrameworkID())
				return nil
			}
		}
		if perm := (*permanentError)(nil); errors.As(err, &perm) {
			return perm.err
		}
		if subscribed {
			delay = c.cfg.MinBackoff
		}
		wait := jitter(delay)
		c.log.Warn("subscription lost, retrying", "error", err, "backoff", wait)
		delay = min(delay*2, c.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)))
}

// subscribeRound tries the last leader, then every master, until one stream
// is established; it returns when that stream ends. subscribed reports whether
// SUBSCRIBED was received.
func (c *Client) subscribeRound(ctx context.Context, h Handler) (subscribed bool, err error) {
	var errs []error
	for _, ep := range c.candidates() {
		subscribed, err := c.subscribe(ctx, ep, h)
		if subscribed || ctx.Err() != nil {
			return subscribed, err
		}
		if perm := (*permanentError)(nil); errors.As(err, &perm) {
			return false, err
		}
		errs = append(errs, err)
		c.log.Debug("subscribe attempt failed", "master", ep.String(), "error", err)
	}
	return false, errors.Join(errs...)
}

func (c *Client) candidates() []*url.URL {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	var out []*url.URL
	if leader != nil {
		out = append(out, leader)
	}
	for _, m := range c.masters {
		if leader == nil || m.String() != leader.String() {
			out = append(out, m)
		}
	}
	return out
}

// subscribe opens one stream at ep (following redirects) and serves it.
func (c *Client) subscribe(ctx context.Context, ep *url.URL, h Handler) (subscribed bool, err error) {
	streamCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The watchdog covers connecting, the first event, and then every gap
	// between events while the client waits on the network (not while the
	// handler runs).
	watchdog := time.AfterFunc(c.cfg.SubscribeTimeout, func() { cancel(errHeartbeatTimeout) })
	defer watchdog.Stop()

	c.mu.Lock()
	call := mesosv1.Call{
		Type: mesosv1.CallSubscribe,
		Subscribe: &mesosv1.CallSubscribeBody{
			FrameworkInfo:   cloneFramework(c.framework),
			SuppressedRoles: c.cfg.SuppressedRoles,
		},
	}
	if c.framework.ID != nil {
		call.FrameworkID = &mesosv1.ID{Value: c.framework.ID.Value}
	}
	c.mu.Unlock()
	body, err := json.Marshal(call)
	if err != nil {
		return false, &permanentError{fmt.Errorf("encode SUBSCRIBE: %w", err)}
	}

	resp, final, err := c.post(streamCtx, c.stream, ep, "", body, true)
	if err != nil {
		if cause := context.Cause(streamCtx); cause != nil && ctx.Err() == nil {
			err = fmt.Errorf("subscribe to %s: %w", ep, cause)
		}
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		herr := httpError(mesosv1.CallSubscribe, resp)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
			http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotAcceptable,
			http.StatusUnsupportedMediaType:
			return false, &permanentError{fmt.Errorf("subscribe to %s: %w", final, herr)}
		}
		return false, fmt.Errorf("subscribe to %s: %w", final, herr)
	}
	streamID := resp.Header.Get(mesosv1.StreamIDHeader)
	if streamID == "" {
		return false, fmt.Errorf("subscribe to %s: no %s header", final, mesosv1.StreamIDHeader)
	}

	c.mu.Lock()
	c.leader, c.streamID, c.subscribed, c.cancelStrm = final, streamID, false, cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.streamID == streamID {
			c.streamID, c.subscribed, c.cancelStrm = "", false, nil
		}
		c.mu.Unlock()
	}()
	c.log.Debug("stream open", "master", final.String(), "stream_id", streamID)

	timeout := c.cfg.SubscribeTimeout
	rd := recordio.NewReader(resp.Body, c.cfg.MaxEventBytes)
	for {
		rec, err := rd.ReadRecord()
		if !watchdog.Stop() || err != nil {
			if cause := context.Cause(streamCtx); cause != nil {
				if ctx.Err() != nil {
					return subscribed, ctx.Err()
				}
				return subscribed, fmt.Errorf("stream from %s: %w", final, cause)
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return subscribed, fmt.Errorf("stream from %s: %w", final, err)
		}
		ev, err := decodeEvent(rec)
		if err != nil {
			return subscribed, fmt.Errorf("stream from %s: %w", final, err)
		}

		switch ev.Type {
		case mesosv1.EventSubscribed:
			iv := time.Duration(ev.Subscribed.HeartbeatIntervalSeconds * float64(time.Second))
			if iv <= 0 || ev.Subscribed.HeartbeatIntervalSeconds > maxHeartbeatSeconds {
				iv = time.Duration(mesosv1.DefaultHeartbeatIntervalSeconds * float64(time.Second))
			}
			timeout = iv * time.Duration(c.cfg.HeartbeatMisses)
			c.mu.Lock()
			c.framework.ID = &mesosv1.ID{Value: ev.Subscribed.FrameworkID.Value}
			c.subscribed = c.streamID == streamID
			c.heartbeatIv = iv
			c.mu.Unlock()
			subscribed = true
			c.log.Info("subscribed", "framework_id", ev.Subscribed.FrameworkID.Value,
				"master", final.String(), "heartbeat_interval", iv)
		}

		if err := h(ctx, c, ev); err != nil {
			if ctx.Err() != nil {
				return subscribed, ctx.Err()
			}
			return subscribed, &permanentError{fmt.Errorf("scheduler: handle %s event: %w", ev.Type, err)}
		}
		if ev.Type == mesosv1.EventError {
			msg := ""
			if ev.Error != nil {
				msg = ev.Error.Message
			}
			c.log.Error("master sent ERROR", "message", msg)
			return subscribed, &permanentError{fmt.Errorf("%w: %s", ErrFrameworkRemoved, msg)}
		}
		if ev.Type == mesosv1.EventUpdate && ev.Update != nil && !c.cfg.ManualAcknowledge {
			if err := c.Acknowledge(ctx, ev.Update.Status); err != nil && ctx.Err() == nil {
				// The agent retries unacknowledged updates, so this heals itself.
				c.log.Warn("acknowledge failed", "task_id", ev.Update.Status.TaskID.Value, "error", err)
			}
		}
		watchdog.Reset(timeout)
	}
}

// post sends body to ep, following 307 redirects when follow is set. It returns
// the response and the URL that produced it. streamID "" omits the header.
func (c *Client) post(ctx context.Context, hc *http.Client, ep *url.URL, streamID string, body []byte, follow bool) (*http.Response, *url.URL, error) {
	target := ep
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
		if err != nil {
			return nil, nil, fmt.Errorf("build request: %w", err)
		}
		for k, vs := range c.cfg.Header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if streamID != "" {
			req.Header.Set(mesosv1.StreamIDHeader, streamID)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("post %s: %w", target, err)
		}
		if resp.StatusCode != http.StatusTemporaryRedirect || !follow {
			return resp, target, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp)
		if loc == "" {
			return nil, nil, fmt.Errorf("post %s: 307 without Location", target)
		}
		if hop >= maxRedirects {
			return nil, nil, fmt.Errorf("post %s: too many redirects", ep)
		}
		next, err := resolveLocation(target, loc)
		if err != nil {
			return nil, nil, fmt.Errorf("post %s: %w", target, err)
		}
		c.log.Debug("redirected", "from", target.String(), "to", next.String())
		target = next
	}
}

// resolveLocation resolves a 307 Location against the request URL. Mesos
// sends "//host:port/path"; resolving handles that, absolute URLs and plain
// paths alike. A Location without a path keeps the request's path.
func resolveLocation(target *url.URL, loc string) (*url.URL, error) {
	next, err := target.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("bad Location %q: %w", loc, err)
	}
	if next.Scheme != "http" && next.Scheme != "https" || next.Host == "" {
		return nil, fmt.Errorf("bad Location %q: not an http(s) URL", loc)
	}
	if next.Path == "" || next.Path == "/" {
		next.Path, next.RawPath = target.Path, target.RawPath
	}
	next.Fragment = ""
	// url.Parse accepts some hosts (e.g. "::") that do not survive a round
	// trip; an endpoint must, since requests are built from its string form.
	if _, err := url.Parse(next.String()); err != nil {
		return nil, fmt.Errorf("bad Location %q: %w", loc, err)
	}
	return next, nil
}

// decodeEvent decodes one stream record and checks what the client relies on.
func decodeEvent(rec []byte) (mesosv1.Event, error) {
	var ev mesosv1.Event
	if err := json.Unmarshal(rec, &ev); err != nil {
		return mesosv1.Event{}, fmt.Errorf("decode event: %w", err)
	}
	switch {
	case ev.Type == "":
		return mesosv1.Event{}, errors.New("decode event: no type")
	case ev.Type == mesosv1.EventSubscribed && (ev.Subscribed == nil || ev.Subscribed.FrameworkID.Value == ""):
		return mesosv1.Event{}, errors.New("decode event: SUBSCRIBED without framework_id")
	}
	return ev, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

func httpError(call string, resp *http.Response) *HTTPError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &HTTPError{Call: call, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(b))}
}

// Call sends one call to the leader the stream is on, filling in the
// framework ID if unset and the Mesos-Stream-Id header. It returns nil on 200
// or 202, ErrNotSubscribed when there is no live subscription, and an
// *HTTPError otherwise. A 307 also makes Run re-subscribe.
func (c *Client) Call(ctx context.Context, call mesosv1.Call) error {
	if call.Type == mesosv1.CallSubscribe {
		return errors.New("scheduler: SUBSCRIBE is sent by Run, not Call")
	}
	c.mu.Lock()
	ep, streamID, subscribed, fid := c.leader, c.streamID, c.subscribed, c.framework.ID
	c.mu.Unlock()
	if !subscribed || streamID == "" || fid == nil {
		return fmt.Errorf("%s: %w", call.Type, ErrNotSubscribed)
	}
	if call.FrameworkID == nil {
		call.FrameworkID = &mesosv1.ID{Value: fid.Value}
	}
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("scheduler: encode %s: %w", call.Type, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp, _, err := c.post(ctx, c.calls, ep, streamID, body, false)
	if err != nil {
		return fmt.Errorf("scheduler: %s: %w", call.Type, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
		drain(resp)
		return nil
	case http.StatusTemporaryRedirect:
		drain(resp)
		c.dropStream(streamID, ErrNotLeader)
		return &HTTPError{Call: call.Type, StatusCode: resp.StatusCode, Message: "leader changed; re-subscribing"}
	}
	herr := httpError(call.Type, resp)
	_ = resp.Body.Close()
	return herr
}

// dropStream ends the stream with id streamID (if still current) so that Run
// re-subscribes.
func (c *Client) dropStream(streamID string, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streamID == streamID && c.cancelStrm != nil {
		c.log.Info("dropping stream", "stream_id", streamID, "reason", cause)
		c.cancelStrm(cause)
		c.streamID, c.subscribed, c.cancelStrm = "", false, nil
	}
}
