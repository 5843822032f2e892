package adminrouter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// waitFor bounds every wait for the cluster to converge; it is a deadline,
// not a timing assertion.
const waitFor = 30 * time.Second

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, contentType, body string) reply {
	t.Helper()
	r, err := try(method, url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func try(method, url, contentType, body string) (reply, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

func get(t *testing.T, url string) reply { t.Helper(); return do(t, "GET", url, "", "") }

// want200JSON GETs url and decodes its JSON body into v.
// want200JSON GETs url and decodes its JSON, asking again while the router
// answers 503: a master that has just started may not have seen who leads
// yet, and says "retry shortly".
func want200JSON(t *testing.T, url string, v any) {
	t.Helper()
	var r reply
	clustertest.Eventually(t, waitFor, func() error {
		r = get(t, url)
		if r.code == http.StatusServiceUnavailable {
			return fmt.Errorf("GET %s: %d %s", url, r.code, r.body)
		}
		return nil
	})
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, r.code, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, r.body)
	}
}

// rawRequest sends a request line as written, bypassing the client's URL
// handling, and returns the status code.
func rawRequest(t *testing.T, addr, requestLine string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s\r\nHost: x\r\nConnection: close\r\n\r\n", requestLine)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRoutesOnACluster drives every built route through a real master's
// Admin Router: Mesos (state, operator API), Marathon (through go-marathon),
// its event stream, Mesos-DNS, metadata, agents, a Marathon app's and a
// framework's web UI, and the routes that are not built yet.
func TestRoutesOnACluster(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1, Agents: 1, LoopbackHostnames: true})
	m := c.Masters[0]
	ar := m.AdminRouterURL()
	if ar == "" {
		t.Fatal("no Admin Router URL")
	}

	t.Run("mesos", func(t *testing.T) {
		var st struct {
			Slaves []struct{ ID string } `json:"slaves"`
		}
		want200JSON(t, ar+"/mesos/master/state", &st)
		if len(st.Slaves) != 1 {
			t.Errorf("state through the Admin Router has %d agents, want 1", len(st.Slaves))
		}
		if r := get(t, ar+"/mesos"); r.code != http.StatusMovedPermanently || r.header.Get("Location") != "/mesos/" {
			t.Errorf("/mesos: %d Location %q", r.code, r.header.Get("Location"))
		}
		r := do(t, "POST", ar+"/mesos/api/v1", "application/json", `{"type":"GET_STATE"}`)
		if r.code != http.StatusOK || !strings.Contains(r.body, `"get_state"`) {
			t.Errorf("GET_STATE: %d %.300s", r.code, r.body)
		}
		var sum map[string]any
		want200JSON(t, ar+"/cache/master/state-summary", &sum)
	})

	t.Run("marathon", func(t *testing.T) {
		var apps struct{ Apps []any }
		want200JSON(t, ar+"/service/marathon/v2/apps", &apps)
		var info struct{ Name string }
		want200JSON(t, ar+"/marathon/v2/info", &info)
		if info.Name != "marathon" {
			t.Errorf("/marathon/v2/info name %q", info.Name)
		}
	})

	t.Run("mesos-dns and net", func(t *testing.T) {
		var v map[string]any
		want200JSON(t, ar+"/mesos_dns/v1/version", &v)
		if v["Service"] == nil && len(v) == 0 {
			t.Errorf("/mesos_dns/v1/version: %v", v)
		}
		var vips any
		want200JSON(t, ar+"/net/v1/vips", &vips)
	})

	t.Run("metadata", func(t *testing.T) {
		var md struct{ PUBLIC_IPV4, CLUSTER_ID string }
		want200JSON(t, ar+"/metadata", &md)
		if md.PUBLIC_IPV4 != "127.0.0.1" || len(md.CLUSTER_ID) != 36 {
			t.Errorf("/metadata: %+v", md)
		}
		var ver map[string]any
		want200JSON(t, ar+"/dcos-metadata/dcos-version.json", &ver)
		if ver["version"] != "1.13.0" || ver["basalt"] == nil || ver["dcos-image-commit"] == nil || ver["bootstrap-id"] == nil {
			t.Errorf("dcos-version.json: %v", ver)
		}
		var ui map[string]any
		want200JSON(t, ar+"/dcos-metadata/ui-config.json", &ui)
		if r := do(t, "HEAD", ar+"/pkgpanda/active.buildinfo.full.json", "", ""); r.code != http.StatusOK {
			t.Errorf("HEAD buildinfo: %d", r.code)
		}
		var ex []struct {
			Code        int
			Description string
			Hostname    string
			IsLeader    bool
		}
		want200JSON(t, ar+"/exhibitor/exhibitor/v1/cluster/status", &ex)
		if len(ex) != 1 || !ex[0].IsLeader || ex[0].Code != 3 || ex[0].Description != "serving" {
			t.Errorf("exhibitor status: %+v", ex)
		}
	})

	t.Run("agent", func(t *testing.T) {
		id := c.State().Slaves[0].ID
		for _, p := range []string{"/agent/" + id + "/state", "/slave/" + id + "/state"} {
			var st struct{ ID string }
			want200JSON(t, ar+p, &st)
			if st.ID != id {
				t.Errorf("%s: agent id %q, want %q", p, st.ID, id)
			}
		}
		if r := get(t, ar+"/agent/no-such-agent/state"); r.code != http.StatusNotFound {
			t.Errorf("unknown agent: %d %s", r.code, r.body)
		}
	})

	t.Run("not built yet", func(t *testing.T) {
		for _, p := range []string{"/", "/service/metronome/v1/jobs", "/package/list", "/capabilities",
			"/system/health/v1", "/system/v1/logs/v1/range/", "/system/v1/metrics/v0/node", "/system/checks/v1"} {
			if r := get(t, ar+p); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "not part of") {
				t.Errorf("%s: %d %q", p, r.code, r.body)
			}
		}
		if r := get(t, ar+"/no/such/route"); r.code != http.StatusNotFound {
			t.Errorf("unknown path: %d", r.code)
		}
		if r := get(t, ar+"/service/nothing-here/"); r.code != http.StatusNotFound || !strings.Contains(r.body, "service not found") {
			t.Errorf("unknown service: %d %q", r.code, r.body)
		}
	})

	t.Run("attacks", func(t *testing.T) {
		addr := strings.TrimPrefix(ar, "http://")
		for _, line := range []string{
			"GET /mesos/../etc/passwd HTTP/1.1",
			"GET /mesos/%2e%2e/%2e%2e/etc/passwd HTTP/1.1",
			"GET /service/web/%2F..%2F..%2Fx HTTP/1.1",
			"GET //evil.example/ HTTP/1.1",
			"GET http://evil.example/mesos/master/state HTTP/1.1",
		} {
			if code := rawRequest(t, addr, line); code != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", line, code)
			}
		}
	})

	t.Run("services", func(t *testing.T) { testServices(t, c, ar) })
}

// webServer is a real HTTP server standing for a service's web UI: it
// echoes what reached it.
func webServer(t *testing.T, ln net.Listener) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s xff=%s xfh=%s cookie=%s", r.URL.Path, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("Cookie"))
	})
	mux.HandleFunc("/go-login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// listenInAgentRange listens on a free loopback port inside the agents'
// port range, so a Marathon app can claim exactly that port.
func listenInAgentRange(t *testing.T) net.Listener {
	t.Helper()
	for p := 31000 + int(time.Now().UnixNano()%900); p < 32000; p++ {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 31000-32000")
	return nil
}

// testServices: /service/<id>/ reaches a Marathon app with the DCOS_SERVICE_*
// labels (created with go-marathon through the Admin Router) and a
// framework's webui_url.
func testServices(t *testing.T, c *clustertest.Cluster, ar string) {
	// The app's "process" is a real HTTP server on the port the app
	// requires; the fake runtime runs the task that owns it.
	appLn := listenInAgentRange(t)
	webServer(t, appLn)
	port := appLn.Addr().(*net.TCPAddr).Port

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cli, err := marathon.NewClient(marathon.Config{
		URL:        ar + "/service/marathon",
		HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatalf("go-marathon through the Admin Router: %v", err)
	}
	clustertest.Eventually(t, waitFor, func() error {
		info, err := cli.Info()
		if err != nil {
			return err
		}
		if info.FrameworkID == "" {
			return errors.New("Marathon has no framework id yet")
		}
		return nil
	})
	app := marathon.NewDockerApplication() // only to get a value; the container is cleared below
	app.Container = nil
	app.Name("/web").Command("sleep 1000").CPU(0.1).Memory(32).Count(1)
	app.AddLabel("DCOS_SERVICE_NAME", "web").AddLabel("DCOS_SERVICE_SCHEME", "http").AddLabel("DCOS_SERVICE_PORT_INDEX", "0")
	app.PortDefinitions = &[]marathon.PortDefinition{{Port: &port}}
	app.RequirePorts = boolPtr(true)
	if _, err := cli.CreateApplication(app); err != nil {
		t.Fatalf("go-marathon CreateApplication through the Admin Router: %v", err)
	}
	clustertest.Eventually(t, waitFor, func() error {
		r, err := try("GET", ar+"/service/web/hello", "", "")
		if err != nil {
			return err
		}
		if r.code != http.StatusOK || !strings.HasPrefix(r.body, "path=/hello ") {
			return fmt.Errorf("%d %q", r.code, r.body)
		}
		return nil
	})
	apps, err := cli.Applications(nil)
	if err != nil || len(apps.Apps) != 1 {
		t.Fatalf("go-marathon Applications: %v %+v", err, apps)
	}

	// The task's sandbox, browsed through /agent/<id>/files/browse, the way
	// the DC/OS UI and CLI reach an agent's files.
	agentID := c.State().Slaves[0].ID
	var ast struct {
		Frameworks []struct {
			Executors []struct{ Directory string } `json:"executors"`
		} `json:"frameworks"`
	}
	want200JSON(t, ar+"/agent/"+agentID+"/state", &ast)
	dir := ""
	for _, f := range ast.Frameworks {
		for _, e := range f.Executors {
			dir = e.Directory
		}
	}
	if dir == "" {
		t.Fatalf("no executor directory in the agent's state through the Admin Router")
	}
	var listing []map[string]any
	want200JSON(t, ar+"/agent/"+agentID+"/files/browse?path="+url.QueryEscape(dir), &listing)

	// Headers: X-Forwarded-*, DC/OS cookies stripped, others kept.
	req, _ := http.NewRequest("GET", ar+"/service/web/x", nil)
	req.Header.Set("Cookie", "dcos-acs-auth-cookie=secret; keep=1; dcos-acs-info-cookie=info")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if !strings.Contains(body, "xff=127.0.0.1") || !strings.Contains(body, "cookie=keep=1") || strings.Contains(body, "secret") {
		t.Errorf("headers upstream: %q", body)
	}
	// Redirects keep the prefix.
	if r := get(t, ar+"/service/web/go-login"); r.code != http.StatusFound || r.header.Get("Location") != "/service/web/login" {
		t.Errorf("redirect: %d Location %q", r.code, r.header.Get("Location"))
	}
	if r := get(t, ar+"/service/web"); r.code != http.StatusMovedPermanently || r.header.Get("Location") != "/service/web/" {
		t.Errorf("/service/web: %d %q", r.code, r.header.Get("Location"))
	}

	// A framework's webui_url, by name and by id.
	fwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	webServer(t, fwLn)
	info := clustertest.FrameworkInfo("my-fw", time.Minute)
	info.WebuiURL = "http://" + fwLn.Addr().String()
	fw := c.StartFramework(info)
	for _, id := range []string{"my-fw", fw.ID()} {
		clustertest.Eventually(t, waitFor, func() error {
			r, err := try("GET", ar+"/service/"+id+"/ui/index.html", "", "")
			if err != nil {
				return err
			}
			if r.code != http.StatusOK || !strings.HasPrefix(r.body, "path=/ui/index.html ") {
				return fmt.Errorf("%s: %d %q", id, r.code, r.body)
			}
			return nil
		})
	}
}

func boolPtr(b bool) *bool { return &b }

// TestEventStreamIsNotBuffered reads Marathon's SSE stream through the
// Admin Router and receives an event caused after the stream opened.
func TestEventStreamIsNotBuffered(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1, Agents: 1})
	ar := c.Masters[0].AdminRouterURL()
	c.MarathonLeader()

	req, err := http.NewRequestWithContext(t.Context(), "GET", ar+"/service/marathon/v2/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event:"); ok {
				events <- strings.TrimSpace(ev)
			}
		}
	}()
	// The stream is open; now cause an event.
	body := `{"id":"/sse-probe","cmd":"sleep 1000","cpus":0.1,"mem":32,"instances":0}`
	if r := do(t, "POST", ar+"/service/marathon/v2/apps", "application/json", body); r.code != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.code, r.body)
	}
	deadline := time.After(waitFor)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended before the event arrived")
			}
			if ev == "api_post_event" || ev == "deployment_info" {
				resp.Body.Close()
				for range events { // drain until the reader stops
				}
				return
			}
		case <-deadline:
			t.Fatal("no event for the created app arrived through the Admin Router")
		}
	}
}

// TestClusterIDStableAcrossRestart: /metadata's CLUSTER_ID comes from the
// store, not from the process.
func TestClusterIDStableAcrossRestart(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1})
	var before, after struct{ CLUSTER_ID string }
	want200JSON(t, c.Masters[0].AdminRouterURL()+"/metadata", &before)
	c.StopMaster(0)
	c.StartMaster(0)
	want200JSON(t, c.Masters[0].AdminRouterURL()+"/metadata", &after)
	if before.CLUSTER_ID == "" || before.CLUSTER_ID != after.CLUSTER_ID {
		t.Errorf("CLUSTER_ID %q before a restart, %q after", before.CLUSTER_ID, after.CLUSTER_ID)
	}
}

// TestLeaderFailover kills the leading master of three; a survivor's Admin
// Router answers /mesos/ and /service/marathon/ from the new leaders.
func TestLeaderFailover(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 1})
	leader := c.Leader()
	c.MarathonLeader()
	old := -1
	for i, m := range c.Masters {
		if m == leader {
			old = i
		}
	}
	survivor := c.Masters[(old+1)%3]
	ar := survivor.AdminRouterURL()
	var st struct {
		PID string `json:"pid"`
	}
	want200JSON(t, ar+"/mesos/master/state", &st)
	oldPID := st.PID

	c.StopMaster(old)
	clustertest.Eventually(t, waitFor, func() error {
		r, err := try("GET", ar+"/mesos/master/state", "", "")
		if err != nil {
			return err
		}
		if r.code != http.StatusOK {
			return fmt.Errorf("%d %s", r.code, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &st); err != nil {
			return err
		}
		if st.PID == oldPID {
			return errors.New("still the old leader's state")
		}
		var s struct{ Slaves []any }
		if err := json.Unmarshal([]byte(r.body), &s); err != nil || len(s.Slaves) != 1 {
			return fmt.Errorf("new leader lists %d agents", len(s.Slaves))
		}
		return nil
	})
	clustertest.Eventually(t, waitFor, func() error {
		r, err := try("GET", ar+"/service/marathon/v2/apps", "", "")
		if err != nil {
			return err
		}
		if r.code != http.StatusOK || !bytes.Contains([]byte(r.body), []byte(`"apps"`)) {
			return fmt.Errorf("%d %s", r.code, r.body)
		}
		return nil
	})
}

// TestOperatorSubscribeStreams reads the v1 operator API's RecordIO
// SUBSCRIBE stream through the Admin Router and receives an event caused
// after the stream opened (a framework subscribing).
func TestOperatorSubscribeStreams(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 1, Agents: 1, NoMarathon: true})
	ar := c.Masters[0].AdminRouterURL()
	req, err := http.NewRequestWithContext(t.Context(), "POST", ar+"/mesos/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %d %s", resp.StatusCode, b)
	}
	events := make(chan string, 64)
	go func() {
		defer close(events)
		rd := recordio.NewReader(resp.Body, 64<<20)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			var ev struct{ Type string }
			if json.Unmarshal(rec, &ev) == nil {
				events <- ev.Type
			}
		}
	}()
	waitEvent := func(want string) {
		t.Helper()
		deadline := time.After(waitFor)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %s", want)
				}
				if ev == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s through the Admin Router", want)
			}
		}
	}
	waitEvent("SUBSCRIBED")
	c.StartFramework(clustertest.FrameworkInfo("probe", time.Minute))
	waitEvent("FRAMEWORK_ADDED")
	resp.Body.Close()
	for range events { // drain until the reader stops
	}
}
