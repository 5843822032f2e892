package operator

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
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Follower mirrors the leading master's state from its event stream:
//
//	find the leader (GET /master/redirect on each master in turn)
//	  → GET_MASTER on it → SUBSCRIBE → apply events to the mirror
//	  ↺ on any failure: back off (RetryMin doubling to RetryMax) and start over
//
// Across a failure the last mirrored state is kept (Connected turns false),
// so DNS keeps answering during a master failover; the next SUBSCRIBED
// replaces the mirror wholesale.
//
// Set the fields before Run; State and Changed may be called at any time.
type Follower struct {
	// Masters are base URLs of any masters (http://m1:5050, ...).
	Masters []string
	// HTTP is the client for every request (nil: a default one). It must
	// not have a Timeout: the stream lasts.
	HTTP *http.Client
	// Logger receives lifecycle messages (nil discards).
	Logger *slog.Logger
	// RetryMin and RetryMax bound the backoff between attempts
	// (defaults 100 ms and 5 s).
	RetryMin, RetryMax time.Duration

	once    sync.Once
	changed chan struct{}

	mu    sync.Mutex
	m     *mirror
	state *State
}

func (f *Follower) init() {
	f.once.Do(func() {
		f.changed = make(chan struct{}, 1)
		f.m = newMirror()
	})
}

// Changed returns a channel that receives after each applied batch of
// changes. Signals coalesce: read State after each receive.
func (f *Follower) Changed() <-chan struct{} {
	f.init()
	return f.changed
}

// State returns the current view. It is cheap: the view is built once per
// change and shared until the next.
func (f *Follower) State() *State {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = f.m.state(f.state)
	return f.state
}

func (f *Follower) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *Follower) update(fn func(m *mirror) bool) {
	f.mu.Lock()
	changed := fn(f.m)
	f.mu.Unlock()
	if changed {
		f.notify()
	}
}

// Run follows the leader until ctx ends; it returns nil then, or an error
// if the configuration is unusable.
func (f *Follower) Run(ctx context.Context) error {
	f.init()
	if len(f.Masters) == 0 {
		return errors.New("operator follower: no masters")
	}
	log := f.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "operator-follower")
	hc := f.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	lo, hi := f.RetryMin, f.RetryMax
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = max(lo, 5*time.Second)
	}
	backoff := lo
	next := 0 // the master to ask first
	for {
		leader, err := f.findLeader(ctx, hc, next)
		if err == nil {
			var info *mesosv1.MasterInfo
			info, err = getMaster(ctx, hc, leader)
			if err == nil {
				subscribed := false
				err = Subscribe(ctx, hc, leader, func(ev *mesosv1.OperatorEvent) error {
					if ev.Type == mesosv1.OperatorEventSubscribed {
						subscribed = true
						backoff = lo
						log.Info("subscribed to the leading master", "leader", leader)
						f.update(func(m *mirror) bool {
							m.setLeader(info)
							m.apply(ev)
							m.setConnected(true)
							return true
						})
						return nil
					}
					if !subscribed {
						return fmt.Errorf("%w: %s before SUBSCRIBED", ErrBadEvent, ev.Type)
					}
					f.update(func(m *mirror) bool { return m.apply(ev) })
					return nil
				})
			}
		}
		f.update(func(m *mirror) bool {
			was := m.connected
			m.setConnected(false)
			return was
		})
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("operator stream failed; keeping the last state and retrying", "error", err, "retry_in", backoff)
		next++
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, hi)
	}
}

// findLeader asks each master, starting at index start, where the leader
// is, and returns the first answer.
func (f *Follower) findLeader(ctx context.Context, hc *http.Client, start int) (string, error) {
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var errs []error
	for i := range f.Masters {
		base := strings.TrimRight(f.Masters[(start+i)%len(f.Masters)], "/")
		leader, err := redirect(ctx, &noFollow, base)
		if err == nil {
			return leader, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("find the leading master: %w", errors.Join(errs...))
}

// redirect asks one master for the leader's base URL.
func redirect(ctx context.Context, hc *http.Client, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/master/redirect", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		return "", fmt.Errorf("%s/master/redirect: %s", base, resp.Status)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s/master/redirect: no Location", base)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := b.Parse(loc) // Mesos answers "//host:port": keep the scheme
	if err != nil {
		return "", fmt.Errorf("%s/master/redirect: bad Location %q: %w", base, loc, err)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// getMaster asks the leader for its MasterInfo (GET_MASTER).
func getMaster(ctx context.Context, hc *http.Client, leader string) (*mesosv1.MasterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, leader+"/api/v1", bytes.NewReader([]byte(`{"type":"GET_MASTER"}`)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET_MASTER on %s: %w", leader, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET_MASTER on %s: %w", leader, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET_MASTER on %s: %s", leader, resp.Status)
	}
	var r mesosv1.OperatorResponse
	if err := json.Unmarshal(body, &r); err != nil || r.GetMaster == nil {
		return nil, fmt.Errorf("GET_MASTER on %s: unreadable answer", leader)
	}
	return &r.GetMaster.MasterInfo, nil
}
