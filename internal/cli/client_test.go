package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/version"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeCluster serves fixture JSON as a leading master, a standby master that
// redirects to it, and one agent with an in-memory sandbox.
type fakeCluster struct {
	leader, standby, agent *httptest.Server
	agentAddr              string

	mu       sync.Mutex
	files    map[string][]byte // sandbox path → content
	reads    int               // /files/read calls
	operator []string          // bodies of POST /api/v1
}

const pageCap = 16 * 4096 // Mesos caps each /files/read at 16 pages

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{files: map[string][]byte{}}
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(b, []byte("{{AGENT}}"), []byte(fc.agentAddr))
	}

	agentMux := http.NewServeMux()
	agentMux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture("agent_state.json"))
	})
	agentMux.HandleFunc("GET /files/read", func(w http.ResponseWriter, r *http.Request) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		fc.reads++
		data, ok := fc.files[r.URL.Query().Get("path")]
		if !ok {
			http.Error(w, "No such file or directory", http.StatusNotFound)
			return
		}
		offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		if err != nil {
			http.Error(w, "bad offset", http.StatusBadRequest)
			return
		}
		if offset == -1 {
			json.NewEncoder(w).Encode(filesRead{Offset: int64(len(data))})
			return
		}
		length := int64(pageCap)
		if l := r.URL.Query().Get("length"); l != "" {
			n, err := strconv.ParseInt(l, 10, 64)
			if err != nil {
				http.Error(w, "bad length", http.StatusBadRequest)
				return
			}
			length = min(n, pageCap)
		}
		start := min(offset, int64(len(data)))
		end := min(start+length, int64(len(data)))
		json.NewEncoder(w).Encode(filesRead{Data: string(data[start:end]), Offset: offset})
	})
	fc.agent = httptest.NewServer(agentMux)
	t.Cleanup(fc.agent.Close)
	fc.agentAddr = strings.TrimPrefix(fc.agent.URL, "http://")

	leaderMux := http.NewServeMux()
	leaderMux.HandleFunc("GET /master/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture("master_state.json"))
	})
	leaderMux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fc.mu.Lock()
		fc.operator = append(fc.operator, string(b))
		fc.mu.Unlock()
		if strings.Contains(string(b), "unknown-agent") {
			http.Error(w, "No agent found with specified ID", http.StatusBadRequest)
		}
	})
	fc.leader = httptest.NewServer(leaderMux)
	t.Cleanup(fc.leader.Close)

	fc.standby = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Mesos redirects with a scheme-relative Location.
		http.Redirect(w, r, "//"+strings.TrimPrefix(fc.leader.URL, "http://")+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(fc.standby.Close)
	return fc
}

func (fc *fakeCluster) setFile(path string, data []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.files[path] = data
}

func (fc *fakeCluster) appendFile(path string, data []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.files[path] = append(fc.files[path], data...)
}

// run runs a command line against the standby master (so every test also
// follows the redirect) and returns exit code, stdout and stderr.
func (fc *fakeCluster) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{
		Stdout: &stdout,
		Stderr: &stderr,
		LookupEnv: func(k string) (string, bool) {
			return map[string]string{"BASALT_MASTER_URL": fc.standby.URL}[k], k == "BASALT_MASTER_URL"
		},
	}
	code := Run(t.Context(), args, env)
	return code, strings.ReplaceAll(stdout.String(), fc.agentAddr, "{{AGENT}}"), stderr.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func lines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

func TestClientGolden(t *testing.T) {
	fc := newFakeCluster(t)
	fc.setFile("/sandboxes/web-aaaa/stdout", lines(1, 15))
	fc.setFile("/sandboxes/web-aaaa/stderr", []byte("warn 1\nwarn 2\nno newline at the end"))
	fc.setFile("/sandboxes/web-0000/stdout", []byte("crashed\n"))
	fc.setFile("/var/lib/basalt/agent/slaves/agent-private-S0/frameworks/fw-marathon-0001/executors/api.instance-bbbb/runs/latest/stdout", []byte("api starting\n"))

	tests := []struct {
		golden string
		args   []string
	}{
		{"node_list", []string{"node", "list"}},
		{"node_list_json", []string{"node", "list", "--json"}},
		{"service", []string{"service"}},
		{"service_list_all", []string{"service", "list", "--inactive", "--completed"}},
		{"service_json", []string{"service", "--json"}},
		{"task", []string{"task"}},
		{"task_list_all", []string{"task", "list", "--all"}},
		{"task_list_completed", []string{"task", "list", "--completed"}},
		{"task_list_glob", []string{"task", "list", "--all", "web.*"}},
		{"task_list_prefix", []string{"task", "api"}},
		{"task_list_json", []string{"task", "list", "--json", "web.instance-aaaa"}},
		{"task_log", []string{"task", "log", "web"}},
		{"task_log_stderr_lines", []string{"task", "log", "--lines", "2", "web.instance-aaaa", "stderr"}},
		{"task_log_fallback_dir", []string{"task", "log", "api"}},
		{"task_log_completed", []string{"task", "log", "--completed", "web.instance-0000"}},
		{"task_log_completed", []string{"task", "log", "web.instance-0"}}, // no active match: completed ones are searched
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := fc.run(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			golden(t, tt.golden, stdout)
		})
	}
}

func TestClientErrors(t *testing.T) {
	fc := newFakeCluster(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no such task", []string{"task", "log", "nope"}, 1, `no task matches "nope"`},
		{"ambiguous task", []string{"task", "log", "--completed", "web"}, 1, `"web" matches 2 tasks (web.instance-0000, web.instance-aaaa)`},
		{"missing file", []string{"task", "log", "web.instance-aaaa", "other"}, 1, "404 Not Found: No such file or directory"},
		{"agent gone", []string{"task", "log", "--completed", "batch-1"}, 1, "agent agent-gone-S9 is not in the cluster"},
		{"bad master URL", []string{"node", "list", "--master", "localhost:5050"}, 2, "want a URL like http://127.0.0.1:5050"},
		{"master down", []string{"node", "list", "--master", "http://127.0.0.1:1"}, 1, "GET http://127.0.0.1:1/master/state"},
		{"unknown flag", []string{"node", "list", "--jsn"}, 2, "unknown flag: --jsn"},
		{"all and completed", []string{"task", "--all", "--completed"}, 1, "none of the others can be"},
		{"negative lines", []string{"task", "log", "--lines", "-1", "web"}, 2, "must not be negative"},
		{"bad timeout env-style flag", []string{"node", "list", "--timeout", "5"}, 2, `invalid duration "5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := fc.run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestMasterFlagBeatsEnv(t *testing.T) {
	fc := newFakeCluster(t)
	// The environment points at the standby; the flag at a dead address wins.
	code, _, stderr := fc.run(t, "node", "list", "--master", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q: the --master flag did not win over BASALT_MASTER_URL", code, stderr)
	}
}

func TestTaskLogLongFile(t *testing.T) {
	fc := newFakeCluster(t)
	// 200 KB: the last 15000 lines need several backward reads, each capped.
	fc.setFile("/sandboxes/web-aaaa/stdout", lines(1, 20000))
	code, stdout, stderr := fc.run(t, "task", "log", "--lines", "15000", "web.instance-aaaa")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := string(lines(5001, 20000)); stdout != want {
		t.Errorf("got %d bytes starting %q, want %d bytes starting %q", len(stdout), stdout[:20], len(want), want[:20])
	}
}

// syncBuffer is a goroutine-safe writer that signals each write.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls out until it contains want or the deadline passes.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case <-out.wrote:
		case <-deadline:
			t.Fatalf("output never contained %q; got:\n%s", want, out.String())
		}
	}
}

func TestTaskLogFollow(t *testing.T) {
	fc := newFakeCluster(t)
	const path = "/sandboxes/web-aaaa/stdout"
	fc.setFile(path, lines(1, 3))

	out := &syncBuffer{wrote: make(chan struct{}, 1)}
	env := Env{
		Stdout:       out,
		Stderr:       out,
		LookupEnv:    func(string) (string, bool) { return "", false },
		PollInterval: time.Millisecond,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"task", "log", "--follow", "--lines", "2", "--master", fc.leader.URL, "web.instance-aaaa"}, env)
	}()
	waitFor(t, out, "line 3\n")
	fc.appendFile(path, lines(4, 5))
	waitFor(t, out, "line 5\n")
	fc.appendFile(path, []byte("partial"))
	waitFor(t, out, "partial")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after cancel: %s", code, out.String())
	}
	if got, want := out.String(), "line 2\nline 3\nline 4\nline 5\npartial"; got != want {
		t.Errorf("followed output %q, want %q", got, want)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\n\n\n", 2, "\n\n"},
		{"a\nb\n", 0, ""},
	}
	for _, tt := range tests {
		if got := string(lastLines([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if code := Run(t.Context(), args, Env{Stdout: &out}); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if want := "basalt version " + version.Version + "\n"; out.String() != want {
			t.Errorf("%v printed %q, want %q", args, out.String(), want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLogger(LogConfig{Level: "debug", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", "agent_id", "a1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["agent_id"] != "a1" {
		t.Errorf("json log line %q (%v)", buf.String(), err)
	}
	for _, bad := range []LogConfig{{Level: "loud", Format: "text"}, {Level: "info", Format: "xml"}} {
		if _, err := newLogger(bad, &buf); err == nil {
			t.Errorf("newLogger(%+v): want an error", bad)
		}
	}
}

// `node decommission` posts MARK_AGENT_GONE (through the standby's 307) and
// reports the master's error.
func TestNodeDecommission(t *testing.T) {
	fc := newFakeCluster(t)
	code, out, errOut := fc.run(t, "node", "decommission", "agent-S1")
	if code != 0 || !strings.Contains(out, "agent-S1 has been marked as gone") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"agent-S1"}}}`
	fc.mu.Lock()
	got := append([]string(nil), fc.operator...)
	fc.mu.Unlock()
	if len(got) != 1 || got[0] != want {
		t.Fatalf("operator calls %q, want [%s]", got, want)
	}
	code, _, errOut = fc.run(t, "node", "decommission", "unknown-agent")
	if code == 0 || !strings.Contains(errOut, "No agent found") {
		t.Fatalf("unknown agent: exit %d, stderr %q", code, errOut)
	}
}
