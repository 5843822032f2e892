package simagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// start runs a simulator until the test ends (or stop is called) and
// returns it with its stop function, which waits for Run to return.
func start(t *testing.T, cfg Config) (*Simulator, func()) {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}

func testConfig(count int, masters []string) Config {
	cfg := DefaultConfig(count, masters...)
	cfg.StatusUpdateRetryMin = 200 * time.Millisecond
	cfg.StatusUpdateRetryMax = time.Second
	cfg.RegistrationBackoffMin = 20 * time.Millisecond
	cfg.RegistrationBackoffMax = 200 * time.Millisecond
	cfg.Tick = 10 * time.Millisecond
	cfg.Workers = 4
	return cfg
}

func do(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

type appTasks struct {
	App struct {
		TasksRunning int `json:"tasksRunning"`
		Tasks        []struct {
			ID      string `json:"id"`
			SlaveID string `json:"slaveId"`
			State   string `json:"state"`
		} `json:"tasks"`
	} `json:"app"`
}

func runningTasks(t *testing.T, marathon, app string, want int) []string {
	t.Helper()
	var ids []string
	clustertest.Eventually(t, 60*time.Second, func() error {
		var a appTasks
		if st := do(t, http.MethodGet, marathon+"/v2/apps"+app+"?embed=app.tasks", nil, &a); st != http.StatusOK {
			return fmt.Errorf("GET app: HTTP %d", st)
		}
		ids = ids[:0]
		for _, tk := range a.App.Tasks {
			if tk.State == mesosv1.TaskRunning {
				ids = append(ids, tk.ID)
			}
		}
		if a.App.TasksRunning != want || len(ids) != want {
			return fmt.Errorf("tasksRunning %d, %d tasks RUNNING; want %d", a.App.TasksRunning, len(ids), want)
		}
		return nil
	})
	sort.Strings(ids)
	return ids
}

func activeAgentIDs(t *testing.T, c *clustertest.Cluster) []string {
	t.Helper()
	var ids []string
	for _, s := range c.State().Slaves {
		if s.Active {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestMarathonOnSimulatedAgents: simulated agents register with a real
// master, Marathon's tasks go RUNNING on them, a scale-down kills tasks,
// acknowledgements empty every update queue, and a restarted simulator
// re-registers the same agents with their tasks, none of them killed.
func TestMarathonOnSimulatedAgents(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1})
	m := c.Leader()
	state := filepath.Join(t.TempDir(), "sim.json")
	cfg := testConfig(3, c.MasterURLs())
	cfg.StateFile = state
	s, stop := start(t, cfg)
	c.WaitAgentsActive(3)
	firstIDs := activeAgentIDs(t, c)
	if got := s.AgentIDs(); !cmp.Equal(sortedCopy(got), firstIDs) {
		t.Fatalf("simulator's agent ids %v, master's %v", got, firstIDs)
	}

	mar := m.MarathonURL()
	app := map[string]any{"id": "/sim/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 6}
	if st := do(t, http.MethodPost, mar+"/v2/apps", app, nil); st != http.StatusCreated {
		t.Fatalf("POST app: HTTP %d", st)
	}
	runningTasks(t, mar, "/sim/web", 6)
	clustertest.Eventually(t, 30*time.Second, func() error {
		st := s.Stats()
		if st.Pending != 0 || st.Tasks != 6 {
			return fmt.Errorf("%d tasks, %d updates not acknowledged; want 6 and 0", st.Tasks, st.Pending)
		}
		return nil
	})
	if st := s.Stats(); st.Acks < 12 {
		// STARTING and RUNNING of each of 6 tasks.
		t.Fatalf("%d acknowledgements, want at least 12 (stats %+v)", st.Acks, st)
	}

	if st := do(t, http.MethodPut, mar+"/v2/apps/sim/web?force=true", map[string]any{"instances": 2}, nil); st/100 != 2 {
		t.Fatalf("PUT instances 2: HTTP %d", st)
	}
	kept := runningTasks(t, mar, "/sim/web", 2)
	clustertest.Eventually(t, 30*time.Second, func() error {
		st := s.Stats()
		if st.Tasks != 2 || st.Pending != 0 || st.Kills < 4 {
			return fmt.Errorf("%d tasks, %d pending updates, %d kills; want 2, 0, ≥4", st.Tasks, st.Pending, st.Kills)
		}
		return nil
	})

	// A lost stream: the agent comes back with its id, its tasks untouched.
	before := s.Stats().Subscribes
	s.Disconnect(0, 50*time.Millisecond)
	clustertest.Eventually(t, 30*time.Second, func() error {
		if st := s.Stats(); st.Subscribes == before || st.Connected != 3 {
			return fmt.Errorf("%d subscribes (%d before the disconnect), %d connected", st.Subscribes, before, st.Connected)
		}
		return nil
	})
	c.WaitAgentsActive(3)
	if got := activeAgentIDs(t, c); !cmp.Equal(got, firstIDs) {
		t.Fatalf("agents after a reconnect %v, want %v", got, firstIDs)
	}
	if got := runningTasks(t, mar, "/sim/web", 2); !cmp.Equal(got, kept) {
		t.Fatalf("tasks after a reconnect %v, want %v", got, kept)
	}

	// A restarted simulator comes back as the same agents with the same tasks.
	stop()
	s2, _ := start(t, cfg)
	clustertest.Eventually(t, 30*time.Second, func() error {
		if n := s2.Stats().Subscribes; n < 3 {
			return fmt.Errorf("%d of 3 agents re-registered", n)
		}
		return nil
	})
	c.WaitAgentsActive(3)
	if got := activeAgentIDs(t, c); !cmp.Equal(got, firstIDs) {
		t.Fatalf("agents after restart %v, want the same as before %v", got, firstIDs)
	}
	if got := sortedCopy(s2.AgentIDs()); !cmp.Equal(got, firstIDs) {
		t.Fatalf("restarted simulator's ids %v, want %v", got, firstIDs)
	}
	if got := runningTasks(t, mar, "/sim/web", 2); !cmp.Equal(got, kept) {
		t.Fatalf("tasks after restart %v, want the same as before %v", got, kept)
	}
	if st := s2.Stats(); st.Kills != 0 || st.Launches != 0 {
		t.Fatalf("restarted simulator got %d kills and %d launches; want none", st.Kills, st.Launches)
	}
}

// TestVanishAndSubscribedSince: a reconnecting agent counts as subscribed
// after the instant it came back, a vanished agent never calls again (the
// master marks it unreachable and its task with it), and TaskIDs names the
// tasks each agent holds.
func TestVanishAndSubscribedSince(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1, NoMarathon: true})
	s, _ := start(t, testConfig(2, c.MasterURLs()))
	c.WaitAgentsActive(2)
	base := c.Leader().URL()
	if n, _ := s.SubscribedSince(time.Time{}, base); n != 2 {
		t.Fatalf("SubscribedSince(zero, leader) = %d, want 2", n)
	}
	if n, _ := s.SubscribedSince(time.Time{}, "http://127.0.0.1:1"); n != 0 {
		t.Fatalf("SubscribedSince(zero, another master) = %d, want 0", n)
	}

	mark := time.Now()
	if n, _ := s.SubscribedSince(mark, ""); n != 0 {
		t.Fatalf("SubscribedSince(now) = %d before any reconnect, want 0", n)
	}
	s.Disconnect(0, 10*time.Millisecond)
	var last time.Time
	clustertest.Eventually(t, 30*time.Second, func() error {
		var n int
		if n, last = s.SubscribedSince(mark, base); n != 1 {
			return fmt.Errorf("%d agents subscribed since the disconnect, want 1", n)
		}
		return nil
	})
	if last.Before(mark) {
		t.Fatalf("last SUBSCRIBED at %v, before the mark %v", last, mark)
	}

	fw := c.StartFramework(clustertest.FrameworkInfo("vanish-test", time.Minute))
	fw.Launch(clustertest.Task("t1", "sleep 100"))
	fw.WaitState("t1", mesosv1.TaskRunning, 30*time.Second)
	holder := -1
	for i := range 2 {
		if ids := s.TaskIDs(i); len(ids) == 1 && ids[0] == "t1" {
			holder = i
		}
	}
	if holder < 0 {
		t.Fatalf("no agent lists task t1: %v, %v", s.TaskIDs(0), s.TaskIDs(1))
	}
	subs := s.Stats().Subscribes
	s.Vanish(holder)
	fw.WaitState("t1", mesosv1.TaskUnreachable, 30*time.Second)
	if st := s.Stats(); st.Subscribes != subs || st.Connected != 1 {
		t.Fatalf("after Vanish: %d subscribes (%d before), %d connected; want no new subscribe and 1 connected", st.Subscribes, subs, st.Connected)
	}
	if ids := s.TaskIDs(holder); len(ids) != 1 {
		t.Fatalf("vanished agent's tasks %v, want t1 kept", ids)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestScriptedTasks: fake.* labels and Behavior end tasks the way a real
// agent reports them, and kills of a task that ignores SIGTERM take effect.
func TestScriptedTasks(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1, NoMarathon: true})
	cfg := testConfig(1, c.MasterURLs())
	cfg.Behavior = Behavior{FailProbability: 1, FailAfter: 10 * time.Millisecond}
	s, _ := start(t, cfg)
	c.WaitAgentsActive(1)
	fw := c.StartFramework(clustertest.FrameworkInfo("sim-test", time.Minute))

	fw.Launch(
		clustertest.Task("finishes", "true", mesosv1.Label{Key: fake.LabelRunFor, Value: "10ms"}),
		clustertest.Task("exits-3", "false", mesosv1.Label{Key: fake.LabelRunFor, Value: "1ms"}, mesosv1.Label{Key: fake.LabelExitCode, Value: "3"}),
		clustertest.Task("cannot-start", "x", mesosv1.Label{Key: fake.LabelFailStart, Value: "true"}),
		clustertest.Task("fails", "sleep 100"),
		clustertest.Task("stubborn", "trap '' TERM; sleep 100", mesosv1.Label{Key: fake.LabelIgnoreSIGTERM, Value: "true"}),
	)
	fw.WaitState("finishes", mesosv1.TaskFinished, 30*time.Second)
	if st := fw.WaitState("exits-3", mesosv1.TaskFailed, 30*time.Second); st.Message != "Command exited with status 3" {
		t.Errorf("exits-3: message %q", st.Message)
	}
	if st := fw.WaitState("cannot-start", mesosv1.TaskFailed, 30*time.Second); st.Reason != mesosv1.ReasonContainerLaunchFailed {
		t.Errorf("cannot-start: reason %q, want %s", st.Reason, mesosv1.ReasonContainerLaunchFailed)
	}
	fw.WaitState("fails", mesosv1.TaskFailed, 30*time.Second)
	fw.WaitState("stubborn", mesosv1.TaskRunning, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fw.Client.Kill(ctx, mesosv1.ID{Value: "stubborn"}, &mesosv1.ID{Value: s.AgentIDs()[0]}, &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: int64(10 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	fw.WaitState("stubborn", mesosv1.TaskKilled, 30*time.Second)
	for _, id := range []string{"finishes", "fails", "stubborn"} {
		var states []string
		for _, u := range fw.Updates(id) {
			if len(states) == 0 || states[len(states)-1] != u.State {
				states = append(states, u.State)
			}
		}
		if states[0] != mesosv1.TaskStarting || states[1] != mesosv1.TaskRunning {
			t.Errorf("%s: updates %v, want STARTING, RUNNING first", id, states)
		}
	}
	clustertest.Eventually(t, 30*time.Second, func() error {
		if st := s.Stats(); st.Tasks != 0 || st.Pending != 0 {
			return fmt.Errorf("%d tasks, %d pending updates; want every ended task acknowledged and forgotten", st.Tasks, st.Pending)
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig(10, "http://127.0.0.1:5050").Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := DefaultConfig(0, "127.0.0.1:5050")
	bad.Resources = "cpus:x"
	bad.Behavior.FailProbability = 2
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error for a bad config")
	}
	for _, want := range []string{"count", "master", "resources", "fail probability"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestParseState(t *testing.T) {
	good := `{"version":1,"agents":[{"index":1,"hostname":"sim-1","agent_id":"a-S1","tasks":[{"framework_id":"f","info":{"name":"t","task_id":{"value":"t1"}},"container_id":"c1","latest":{"task_id":{"value":"t1"},"state":"TASK_RUNNING"}}]}]}`
	st, err := parseState([]byte(good), 2)
	if err != nil || len(st.Agents) != 1 || st.Agents[0].Tasks[0].ContainerID != "c1" {
		t.Fatalf("parseState(good) = %+v, %v", st, err)
	}
	for name, in := range map[string]string{
		"not json":      `{`,
		"wrong version": `{"version":9}`,
		"index":         `{"version":1,"agents":[{"index":5,"agent_id":"x"}]}`,
		"duplicate":     `{"version":1,"agents":[{"index":0,"agent_id":"x"},{"index":0,"agent_id":"y"}]}`,
		"no id":         `{"version":1,"agents":[{"index":0}]}`,
		"task":          `{"version":1,"agents":[{"index":0,"agent_id":"x","tasks":[{}]}]}`,
	} {
		if _, err := parseState([]byte(in), 2); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"agents":[{"index":0,"agent_id":"x","tasks":[{"framework_id":"f","info":{"task_id":{"value":"t"}},"container_id":"c"}]}]}`), 3)
	f.Add([]byte(`{"version":1}`), 1)
	f.Add([]byte(`[]`), 0)
	f.Fuzz(func(t *testing.T, b []byte, count int) {
		st, err := parseState(b, count)
		if err != nil {
			return
		}
		for _, a := range st.Agents {
			if a.Index < 0 || a.Index >= count || a.AgentID == "" {
				t.Fatalf("accepted agent %+v with count %d", a, count)
			}
		}
	})
}
