package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"time"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// api talks to one Marathon. Compression is off so that response sizes are
// the bytes Marathon renders.
type api struct {
	*benchkit.Client
	// unavailable counts polls answered 503: Marathon had no leader for a
	// moment (on an overloaded box the master can lose its lease).
	unavailable int
}

func newAPI(base string) *api {
	return &api{Client: benchkit.NewClient(base, &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 32})}
}

// poll is a GET for a wait loop: a 503 (no leader right now) is counted
// and reported as not ok, so the loop polls on.
func (a *api) poll(ctx context.Context, path string) ([]byte, bool, error) {
	st, data, err := a.Do(ctx, http.MethodGet, path, nil)
	switch {
	case err != nil:
		return nil, false, err
	case st == http.StatusServiceUnavailable:
		a.unavailable++
		return nil, false, nil
	case st != http.StatusOK:
		return nil, false, fmt.Errorf("GET %s: HTTP %d: %.300s", path, st, data)
	}
	return data, true, nil
}

// timed measures n sequential GETs of path: latency in ms and body size.
func (a *api) timed(ctx context.Context, n int, path func(i int) string) (lat, size []float64, err error) {
	// The body is counted, not kept: the client shares the cluster's heap
	// here, and keeping a 5 MiB body per request made the garbage collector
	// (triggered by the client's own allocations) the largest part of the
	// servers' tail latency.
	for i := range n {
		p := path(i)
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+p, nil)
		if err != nil {
			return nil, nil, err
		}
		resp, err := a.HC.Do(req)
		if err != nil {
			return nil, nil, err
		}
		nb, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
		}
		lat = append(lat, benchkit.MS(time.Since(t0)))
		size = append(size, float64(nb))
	}
	return lat, size, nil
}

// marathonURL waits until the cluster's Marathon leads and answers.
func marathonURL(ctx context.Context, c *clustertest.Cluster) (*api, error) {
	m := c.Masters[0].Master()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if u := m.MarathonURL(); u != "" {
			a := newAPI(u)
			if st, _, err := a.Do(ctx, http.MethodGet, "/v2/leader", nil); err == nil && st == http.StatusOK {
				if st, _, err := a.Do(ctx, http.MethodGet, "/v2/apps", nil); err == nil && st == http.StatusOK {
					return a, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, errors.New("marathon did not lead within 60s")
}

// appsState is the part of GET /v2/apps a wait needs.
type appsState struct {
	Apps []struct {
		ID           string `json:"id"`
		TasksRunning int    `json:"tasksRunning"`
		Deployments  []any  `json:"deployments"`
	} `json:"apps"`
}

// trialTimeout bounds one launch1000 trial.
const trialTimeout = time.Minute

func note(stalled string) string {
	if stalled == "" {
		return ""
	}
	return " — " + stalled
}

// --- list -------------------------------------------------------------------

func benchList(ctx context.Context, o options) ([]benchkit.Result, error) {
	var rs []benchkit.Result
	err := benchkit.WithCluster(clustertest.Options{Agents: 20}, o.logs, func(c *clustertest.Cluster) error {
		a, err := marathonURL(ctx, c)
		if err != nil {
			return err
		}
		// Create the apps in groups of o.chunk apps, one group at a time,
		// each POSTed once its predecessor's deployment is done. (One group
		// of all 1,000 apps never converged: the master disconnected
		// Marathon's scheduler stream for falling 4,096 events behind, over
		// and over. App-by-app POSTs converge but take ~100 s.)
		t0 := time.Now()
		for g := 0; g*o.chunk < o.apps; g++ {
			var apps []any
			for i := g * o.chunk; i < min((g+1)*o.chunk, o.apps); i++ {
				apps = append(apps, benchApp(listAppID(i, o.chunk), o.instances))
			}
			group := map[string]any{"id": listGroupID(g), "apps": apps}
			if _, err := a.Expect(ctx, http.MethodPost, "/v2/groups", group, http.StatusCreated); err != nil {
				return err
			}
			if err := waitNoDeployment(ctx, a); err != nil {
				return err
			}
		}
		posted := time.Since(t0)
		want := o.apps * o.instances
		err = benchkit.WaitUntil(5*time.Minute, 100*time.Millisecond, fmt.Sprintf("%d tasks running", want), func() (bool, error) {
			data, ok, err := a.poll(ctx, "/v2/apps")
			if !ok {
				return false, err
			}
			var st appsState
			if err := json.Unmarshal(data, &st); err != nil {
				return false, err
			}
			running, deploying := 0, 0
			for _, app := range st.Apps {
				running += app.TasksRunning
				deploying += len(app.Deployments)
			}
			return running == want && deploying == 0, nil
		})
		if err != nil {
			return err
		}
		all := time.Since(t0)
		fmt.Fprintf(os.Stderr, "list: %d apps posted in %s, %d tasks running and deployments done after %s\n",
			o.apps, posted.Round(time.Millisecond), want, all.Round(time.Millisecond))
		// Measure reads on a settled cluster: every status update of the
		// setup acknowledged (reads under load are issue 7's scenario).
		tq := time.Now()
		if err := waitQuiet(ctx, newAPI(c.Masters[0].URL())); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "list: quiet %s later\n", time.Since(tq).Round(time.Millisecond))
		name := fmt.Sprintf("%d apps / %d tasks", o.apps, want)
		rs = append(rs,
			benchkit.Summarize("list", fmt.Sprintf("setup: %d groups of %d apps × %d instances, one after the other → %d tasks running, no deployment",
				(o.apps+o.chunk-1)/o.chunk, o.chunk, o.instances, want), "ms", []float64{benchkit.MS(all)}, "", nil))

		type endpoint struct {
			metric, target string
			check          func(benchkit.Result) bool
			path           func(i int) string
		}
		if o.getProfile != "" {
			f, err := os.Create(o.getProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			// Fails if -cpuprofile is already profiling: then that one covers this.
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
		for _, e := range []endpoint{
			{"GET /v2/apps?embed=apps.tasks", "p99 ≤ 50 ms", func(r benchkit.Result) bool { return r.P99 <= 50 },
				func(int) string { return "/v2/apps?embed=apps.tasks" }},
			{"GET /v2/apps", "", nil, func(int) string { return "/v2/apps" }},
			{"GET /v2/apps/{id}", "", nil, func(i int) string { return "/v2/apps" + listAppID(i*7919%o.apps, o.chunk) }},
			{"GET /v2/tasks", "", nil, func(int) string { return "/v2/tasks" }},
		} {
			lat, size, err := a.timed(ctx, o.requests, e.path)
			if err != nil {
				return err
			}
			rs = append(rs,
				benchkit.Summarize("list", e.metric+" latency ("+name+")", "ms", lat, e.target, e.check),
				benchkit.Summarize("list", e.metric+" response size", "B", size, "", nil))
		}
		fmt.Fprintf(os.Stderr, "list: %d polls answered 503 (no leader)\n", a.unavailable)
		return nil
	})
	return rs, err
}

// listAppID is app i's ID: apps live in groups of chunk.
func listAppID(i, chunk int) string { return fmt.Sprintf("%s/app-%04d", listGroupID(i/chunk), i) }

func listGroupID(g int) string { return fmt.Sprintf("/bench/list/g%03d", g) }

// --- launch1 ----------------------------------------------------------------

func benchLaunch1(ctx context.Context, o options) ([]benchkit.Result, error) {
	n := max(20, 10*o.trials)
	var rs []benchkit.Result
	err := benchkit.WithCluster(clustertest.Options{Agents: 2}, o.logs, func(c *clustertest.Cluster) error {
		a, err := marathonURL(ctx, c)
		if err != nil {
			return err
		}
		cl, err := marathon.NewClient(a.Base)
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		events, err := cl.Events(sctx, "status_update_event")
		if err != nil {
			return err
		}
		var toRunning, post []float64
		for i := range n {
			id := fmt.Sprintf("/bench/launch1/app-%03d", i)
			t0 := time.Now()
			if _, err := a.Expect(ctx, http.MethodPost, "/v2/apps", benchApp(id, 1), http.StatusCreated); err != nil {
				return err
			}
			post = append(post, benchkit.MS(time.Since(t0)))
			if err := waitRunning(events, id, 30*time.Second); err != nil {
				return fmt.Errorf("app %d: %w", i, err)
			}
			toRunning = append(toRunning, benchkit.MS(time.Since(t0)))
			// Untimed: remove the app so every trial starts from the same state.
			if _, err := a.Expect(ctx, http.MethodDelete, "/v2/apps"+id+"?force=true", nil, http.StatusOK); err != nil {
				return err
			}
			if err := waitGone(ctx, a, id); err != nil {
				return err
			}
		}
		rs = append(rs,
			benchkit.Summarize("launch1", "POST /v2/apps (1 instance) → status_update_event TASK_RUNNING", "ms", toRunning,
				"p50 ≤ 100 ms", func(r benchkit.Result) bool { return r.P50 <= 100 }),
			benchkit.Summarize("launch1", "POST /v2/apps response time", "ms", post, "", nil))
		return nil
	})
	return rs, err
}

// waitRunning reads status_update_events until app id has a TASK_RUNNING.
func waitRunning(events <-chan marathon.Event, id string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("event stream ended")
			}
			var st struct {
				AppID      string `json:"appId"`
				TaskStatus string `json:"taskStatus"`
			}
			if err := json.Unmarshal(ev.Data, &st); err != nil {
				return fmt.Errorf("decode %s: %w", ev.Type, err)
			}
			if st.AppID == id && st.TaskStatus == "TASK_RUNNING" {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("no TASK_RUNNING for %s within %s", id, timeout)
		}
	}
}

// waitNoDeployment waits until Marathon runs no deployment.
func waitNoDeployment(ctx context.Context, a *api) error {
	return benchkit.WaitUntil(2*time.Minute, 10*time.Millisecond, "no deployment", func() (bool, error) {
		data, ok, err := a.poll(ctx, "/v2/deployments")
		if !ok {
			return false, err
		}
		var ds []any
		if err := json.Unmarshal(data, &ds); err != nil {
			return false, err
		}
		return len(ds) == 0, nil
	})
}

// waitGone waits until app id is deleted and no task is left.
func waitGone(ctx context.Context, a *api, id string) error {
	return benchkit.WaitUntil(time.Minute, 5*time.Millisecond, id+" gone", func() (bool, error) {
		st, _, err := a.Do(ctx, http.MethodGet, "/v2/apps"+id, nil)
		if err != nil || st != http.StatusNotFound {
			return false, err
		}
		data, ok, err := a.poll(ctx, "/v2/tasks")
		if !ok {
			return false, err
		}
		var ts struct {
			Tasks []any `json:"tasks"`
		}
		if err := json.Unmarshal(data, &ts); err != nil {
			return false, err
		}
		return len(ts.Tasks) == 0, nil
	})
}

// waitQuiet waits until the master has seen as many acknowledgements as it
// forwarded status updates, twice in a row 100 ms apart.
func waitQuiet(ctx context.Context, master *api) error {
	quiet := 0
	return benchkit.WaitUntil(time.Minute, 100*time.Millisecond, "every status update acknowledged", func() (bool, error) {
		code, data, err := master.Do(ctx, http.MethodGet, "/metrics/snapshot", nil)
		if err != nil || code != http.StatusOK {
			return false, err
		}
		var snap map[string]float64
		if err := json.Unmarshal(data, &snap); err != nil {
			return false, err
		}
		if snap["master/valid_status_updates"] <= snap["master/messages_status_update_acknowledgement"] {
			quiet++
		} else {
			quiet = 0
		}
		return quiet >= 2, nil
	})
}

// --- launch1000 -------------------------------------------------------------

func benchLaunch1000(ctx context.Context, o options) ([]benchkit.Result, error) {
	const instances = 1000
	var rs []benchkit.Result
	err := benchkit.WithCluster(clustertest.Options{Agents: 100}, o.logs, func(c *clustertest.Cluster) error {
		a, err := marathonURL(ctx, c)
		if err != nil {
			return err
		}
		var toRunning, toDone, toQuiet []float64
		notFound := 0
		stalled := ""
		for i := range o.trials {
			id := fmt.Sprintf("/bench/launch1000/app-%d", i)
			t0 := time.Now()
			if _, err := a.Expect(ctx, http.MethodPost, "/v2/apps", benchApp(id, instances), http.StatusCreated); err != nil {
				return err
			}
			var running time.Duration
			lastNote := time.Now()
			err := benchkit.WaitUntil(trialTimeout, 5*time.Millisecond, fmt.Sprintf("%s: %d running, no deployment", id, instances), func() (bool, error) {
				// The list form does not embed the 1,000 tasks, so polling stays cheap.
				code, data, err := a.Do(ctx, http.MethodGet, "/v2/apps?id="+url.QueryEscape(id), nil)
				if err != nil {
					return false, err
				}
				if code == http.StatusServiceUnavailable {
					a.unavailable++
					return false, nil
				}
				if code == http.StatusNotFound {
					// Seen after a leader change: the app was accepted (201)
					// but is not visible yet. Counted and reported.
					notFound++
					return false, nil
				}
				if code != http.StatusOK {
					return false, fmt.Errorf("GET /v2/apps%s: HTTP %d: %.300s", id, code, data)
				}
				var list struct {
					Apps []struct {
						ID           string `json:"id"`
						TasksRunning int    `json:"tasksRunning"`
						Deployments  []any  `json:"deployments"`
					} `json:"apps"`
				}
				if err := json.Unmarshal(data, &list); err != nil {
					return false, err
				}
				var st struct {
					App struct {
						TasksRunning int
						Deployments  []any
					}
				}
				found := false
				for _, app := range list.Apps {
					if app.ID == id {
						st.App.TasksRunning, st.App.Deployments, found = app.TasksRunning, app.Deployments, true
					}
				}
				if !found {
					notFound++
					return false, nil
				}
				if time.Since(lastNote) > 2*time.Second {
					lastNote = time.Now()
					fmt.Fprintf(os.Stderr, "  %s after %s: %d running, %d deployments\n", id,
						time.Since(t0).Round(time.Millisecond), st.App.TasksRunning, len(st.App.Deployments))
				}
				if running == 0 && st.App.TasksRunning == instances {
					running = time.Since(t0)
				}
				return running > 0 && len(st.App.Deployments) == 0, nil
			})
			if errors.Is(err, benchkit.ErrTimeout) {
				// A stalled trial is a benchkit.Result, not a crash: report it and
				// stop (the cluster is likely wedged; see -logs).
				stalled = fmt.Sprintf("trial %d did not converge within %s", i, trialTimeout)
				fmt.Fprintf(os.Stderr, "launch1000: %s (polls: %d answered 503, %d answered 404)\n", stalled, a.unavailable, notFound)
				break
			}
			if err != nil {
				return err
			}
			toRunning = append(toRunning, benchkit.MS(running))
			toDone = append(toDone, benchkit.MS(time.Since(t0)))
			fmt.Fprintf(os.Stderr, "launch1000 trial %d: running %s, deployment done %s (polls so far: %d answered 503, %d answered 404)\n", i,
				running.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), a.unavailable, notFound)
			t1 := time.Now()
			if _, err := a.Expect(ctx, http.MethodDelete, "/v2/apps"+id+"?force=true", nil, http.StatusOK); err != nil {
				return err
			}
			if err := waitGone(ctx, a, id); err != nil {
				return err
			}
			// Each trial starts on a quiet cluster: every status update the
			// master forwarded has been acknowledged (the teardown of 1,000
			// tasks otherwise overlaps the next launch).
			if err := waitQuiet(ctx, newAPI(c.Masters[0].URL())); err != nil {
				return err
			}
			toQuiet = append(toQuiet, benchkit.MS(time.Since(t1)))
		}
		rs = append(rs,
			benchkit.Summarize("launch1000", "POST /v2/apps (1,000 instances, 100 agents) → GET shows tasksRunning 1000"+note(stalled), "ms", toRunning,
				"≤ 3 s", func(r benchkit.Result) bool { return stalled == "" && r.Max <= 3000 }),
			benchkit.Summarize("launch1000", "POST /v2/apps (1,000 instances) → its deployment is gone"+note(stalled), "ms", toDone, "", nil),
			benchkit.Summarize("launch1000", "DELETE the app → every update of its 1,000 tasks acknowledged"+note(stalled), "ms", toQuiet, "", nil))
		return nil
	})
	return rs, err
}

// benchApp is an app definition small enough that thousands of instances
// fit on a few default clustertest agents (4 cpus, 4 GiB each), with no
// host ports; the fake runtime never runs its command.
func benchApp(id string, instances int) map[string]any {
	return map[string]any{
		"id": id, "cmd": "sleep 3600", "instances": instances,
		"cpus": 0.001, "mem": 1, "disk": 0, "portDefinitions": []any{},
	}
}
