package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func TestParseScenarios(t *testing.T) {
	tests := []struct {
		in      string
		want    scenarios
		wantErr bool
	}{
		{"throughput", scenarios{"throughput": true}, false},
		{"failover, agentloss", scenarios{"failover": true, "agentloss": true}, false},
		{"all", scenarios{"throughput": true, "api": true, "footprint": true, "failover": true, "agentloss": true, "ceiling": true}, false},
		{"api,,ceiling", scenarios{"api": true, "ceiling": true}, false},
		{"failover,nope,also", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := parseScenarios(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseScenarios(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseScenarios(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if _, err := parseScenarios("failover,nope,also"); err == nil || !cmp.Equal(err.Error(),
		`unknown scenario "nope", "also" (want a comma-separated list of throughput,api,footprint,failover,agentloss,ceiling, or all)`) {
		t.Errorf("error names every unknown scenario: %v", err)
	}
	if !(scenarios{"api": true}).launch() || (scenarios{"failover": true}).launch() {
		t.Error("launch(): api needs the launch cluster, failover does not")
	}
}

func TestPickVictims(t *testing.T) {
	tk := []string{"t"}
	tests := []struct {
		name    string
		holders [][]string
		n       int
		want    []int
	}{
		{"only agents with tasks", [][]string{nil, tk, nil, tk}, 5, []int{1, 3}},
		{"spread over the fleet", [][]string{tk, tk, tk, tk, tk, tk}, 3, []int{0, 2, 4}},
		{"none", [][]string{nil, nil}, 1, nil},
		{"zero asked", [][]string{tk}, 0, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pickVictims(tt.holders, tt.n)); diff != "" {
				t.Errorf("pickVictims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckReplaced(t *testing.T) {
	app0, app1 := appID(0), appID(1)
	running := func(ts ...marathon.Task) map[string]marathon.Task {
		m := map[string]marathon.Task{}
		for _, t := range ts {
			m[t.ID] = t
		}
		return m
	}
	lost := map[string]bool{"a1": true}
	gone := map[string]bool{"agent-gone": true}
	tests := []struct {
		name    string
		running map[string]marathon.Task
		want    replacement
	}{
		{"lost task still counted", running(
			marathon.Task{ID: "a1", AppID: app0, SlaveID: "agent-gone"}, marathon.Task{ID: "a2", AppID: app0, SlaveID: "x"},
			marathon.Task{ID: "b1", AppID: app1, SlaveID: "x"}, marathon.Task{ID: "b2", AppID: app1, SlaveID: "y"}),
			replacement{Running: 4, LostRunning: 1, OnGoneAgents: 1}},
		{"app short of an instance", running(
			marathon.Task{ID: "a2", AppID: app0, SlaveID: "x"},
			marathon.Task{ID: "b1", AppID: app1, SlaveID: "x"}, marathon.Task{ID: "b2", AppID: app1, SlaveID: "y"}),
			replacement{Running: 3, ShortApps: 1}},
		{"replaced", running(
			marathon.Task{ID: "a3", AppID: app0, SlaveID: "y"}, marathon.Task{ID: "a2", AppID: app0, SlaveID: "x"},
			marathon.Task{ID: "b1", AppID: app1, SlaveID: "x"}, marathon.Task{ID: "b2", AppID: app1, SlaveID: "y"}),
			replacement{Running: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkReplaced(tt.running, lost, gone, 2, 2)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checkReplaced (-want +got):\n%s", diff)
			}
			if got.done() != (tt.want == replacement{Running: 4}) {
				t.Errorf("done() = %v for %+v", got.done(), got)
			}
		})
	}
}

func TestHostIP(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.12:8080":         "127.0.0.12",
		"http://127.0.0.13:5050":  "127.0.0.13",
		"127.0.0.11":              "127.0.0.11",
		"master.example.com:8080": "master.example.com",
	} {
		if got := hostIP(in); got != want {
			t.Errorf("hostIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollector(t *testing.T) {
	c := newCollector()
	for trial := range 3 {
		c.add("failover", "recovered", "ms", float64(1000*(3-trial)), "≤ 10 s", func(r benchkit.Result) bool { return r.Max <= 10_000 })
		c.addAll("api", "GET x", "ms", []float64{1, 2}, "", nil)
	}
	rs := c.results()
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	if r := rs[0]; r.Over != "trials" || r.N != 3 || r.Min != 1000 || r.P50 != 2000 || r.Max != 3000 || r.Met != "yes" {
		t.Errorf("per-trial figure: %+v, want 3 trials, min 1000, median 2000, max 3000, met", r)
	}
	if r := rs[1]; r.Over != "" || r.N != 6 {
		t.Errorf("distribution: %+v, want 6 samples, not per trial", r)
	}
}

func TestLossResources(t *testing.T) {
	tests := []struct {
		tasks, agents int
		room          float64
		want          string
	}{
		{10_000, 1000, 2, "cpus:0.20;mem:160;disk:1000;ports:[31000-32000]"},
		{200, 200, 2, "cpus:0.02;mem:16;disk:1000;ports:[31000-32000]"},
		{10, 1000, 2, "cpus:0.01;mem:8;disk:1000;ports:[31000-32000]"},
		{100_000, 10_000, 1.5, "cpus:0.15;mem:120;disk:1000;ports:[31000-32000]"},
	}
	for _, tt := range tests {
		if got := lossResources(tt.tasks, tt.agents, tt.room); got != tt.want {
			t.Errorf("lossResources(%d, %d, %g) = %q, want %q", tt.tasks, tt.agents, tt.room, got, tt.want)
		}
	}
}

func FuzzParseScenarios(f *testing.F) {
	for _, s := range []string{"all", "failover,agentloss", "throughput, api ,footprint", "", ",", "nope", "all,nope"} {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, n := range allScenarios() {
		known[n] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseScenarios(s)
		if err != nil {
			if sel != nil {
				t.Fatalf("parseScenarios(%q) returned %v with error %v", s, sel, err)
			}
			return
		}
		if len(sel) == 0 {
			t.Fatalf("parseScenarios(%q) selected nothing without an error", s)
		}
		for n := range sel {
			if !known[n] {
				t.Fatalf("parseScenarios(%q) selected unknown %q", s, n)
			}
		}
	})
}

// TestPostAppRetries: a POST answered 503 or 502 is sent again, and a 409
// to a retried POST means the app exists (an earlier attempt created it);
// a 409 to the first attempt is an error.
func TestPostAppRetries(t *testing.T) {
	var answers []int
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := answers[min(calls, len(answers)-1)]
		calls++
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"message":"x"}`))
	}))
	defer srv.Close()
	mar := benchkit.NewClient(srv.URL, transport())
	app := map[string]any{"id": "/a"}
	for _, tc := range []struct {
		answers []int
		ok      bool
		calls   int
	}{
		{[]int{201}, true, 1},
		{[]int{503, 502, 201}, true, 3},
		{[]int{503, 409}, true, 2},
		{[]int{409}, false, 1},
		{[]int{422}, false, 1},
	} {
		answers, calls = tc.answers, 0
		err := postApp(t.Context(), mar, app)
		if (err == nil) != tc.ok || calls != tc.calls {
			t.Errorf("answers %v: error %v after %d calls, want ok=%v after %d", tc.answers, err, calls, tc.ok, tc.calls)
		}
	}
}
