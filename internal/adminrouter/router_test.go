package adminrouter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// upstreams is a settable view of the leaders, as a master's elections
// would report them.
type upstreams struct {
	mu       sync.Mutex
	mesos    []string // successive answers; the last one repeats
	marathon string
	dns      string
}

func (u *upstreams) MesosLeader() (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.mesos) == 0 {
		return "", false
	}
	v := u.mesos[0]
	if len(u.mesos) > 1 {
		u.mesos = u.mesos[1:]
	}
	return v, v != ""
}

func (u *upstreams) MarathonLeader() (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.marathon, u.marathon != ""
}

func (u *upstreams) MesosDNS() string { return u.dns }

type cluster struct{}

func (cluster) ClusterID(context.Context) (string, error) {
	return "8d3cf0a4-4a9b-4f4e-9a3c-7f0e0a6f1c11", nil
}

func (cluster) StoreMembers(context.Context) ([]ExhibitorServer, error) { return nil, nil }

// newTestRouter serves a router over up on a real listener.
func newTestRouter(t *testing.T, up *upstreams) string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RetryDelay = 10 * time.Millisecond
	cfg.CacheTTL = 10 * time.Millisecond
	cfg.MaxBodyBytes = 1 << 10
	return "http://" + serveRouter(t, cfg, Deps{Upstreams: up, Cluster: cluster{}})
}

// serveRouter builds a router and serves it on a loopback listener until
// the test ends; it returns the listener's address (host:port).
func serveRouter(t testing.TB, cfg Config, deps Deps) string {
	t.Helper()
	r, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		ln.Close()
	})
	return ln.Addr().String()
}

// TestMain checks for leaked goroutines. Keep-alive connections of clients
// (the tests' and go-marathon's) end asynchronously after their servers
// stop, and the in-process clusters' etcd and gRPC keep background workers,
// as clustertest's own leak check allows.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).abortPendingRead"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/pkg/v3/logutil.(*MergeLogger).outputLoop"),
	)
}

func getBody(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func testClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestNoLeader: with no leader known the answer is a clear 503, at once.
func TestNoLeader(t *testing.T) {
	ar := newTestRouter(t, &upstreams{})
	c := testClient(t)
	for path, want := range map[string]string{
		"/mesos/master/state":       "no Mesos master leader",
		"/service/marathon/v2/apps": "no Marathon leader",
		"/mesos_dns/v1/version":     "no Mesos-DNS leader",
	} {
		code, body := getBody(t, c, ar+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

// TestRetryAfterLeaderChange: a GET whose leader refuses the connection is
// retried once at the leader known afterwards; a POST is not.
func TestRetryAfterLeaderChange(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "new leader %s %s", r.Method, r.URL.Path)
	}))
	defer live.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // its port now refuses connections
	// The router resolves twice before the first attempt (check, rewrite),
	// then once for the retry.
	up := &upstreams{mesos: []string{deadURL, deadURL, live.URL}}
	ar := newTestRouter(t, up)
	c := testClient(t)
	code, body := getBody(t, c, ar+"/mesos/master/state")
	if code != http.StatusOK || body != "new leader GET /master/state" {
		t.Errorf("GET after a leader change: %d %q", code, body)
	}

	up.mu.Lock()
	up.mesos = []string{deadURL, deadURL, live.URL}
	up.mu.Unlock()
	resp, err := c.Post(ar+"/mesos/api/v1", "application/json", strings.NewReader(`{"type":"GET_HEALTH"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("POST to a dead leader: %d, want 502 (not retried)", resp.StatusCode)
	}
}

// TestWebSocketUpgrade: an Upgrade passes through and both directions
// stream.
func TestWebSocketUpgrade(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.URL.Path != "/ws" {
			http.Error(w, "want a websocket upgrade at /ws", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprint(rw, "echo "+line)
		rw.Flush()
	}))
	defer upstream.Close()
	ar := newTestRouter(t, &upstreams{marathon: upstream.URL})

	conn, err := net.Dial("tcp", strings.TrimPrefix(ar, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /service/marathon/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	fmt.Fprint(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Errorf("after the upgrade: %q %v", line, err)
	}
}

// TestServiceRewriteOff: DCOS_SERVICE_REWRITE_REQUEST_URLS=false keeps the
// /service/<id> prefix upstream; only running tasks are used.
func TestServiceRewriteOff(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	}))
	defer web.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(web.URL, "http://"))
	mar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/apps" || r.URL.Query().Get("label") != "DCOS_SERVICE_NAME" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"apps":[{"id":"/grp/raw","labels":{"DCOS_SERVICE_NAME":"grp/raw","DCOS_SERVICE_SCHEME":"http",
			"DCOS_SERVICE_PORT_INDEX":"0","DCOS_SERVICE_REWRITE_REQUEST_URLS":"false"},
			"tasks":[{"id":"a","host":"192.0.2.1","ports":[1],"state":"TASK_STAGING"},
			         {"id":"b","host":%q,"ports":[%s],"state":"TASK_RUNNING"}]}]}`, host, port)
	}))
	defer mar.Close()
	ar := newTestRouter(t, &upstreams{marathon: mar.URL})
	code, body := getBody(t, testClient(t), ar+"/service/grp/raw/x/y")
	if code != http.StatusOK || body != "/service/grp/raw/x/y" {
		t.Errorf("rewrite off: %d %q", code, body)
	}
}

// TestBodyLimit: a request body over the limit is refused.
func TestBodyLimit(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer upstream.Close()
	ar := newTestRouter(t, &upstreams{marathon: upstream.URL})
	c := testClient(t)
	resp, err := c.Post(ar+"/service/marathon/v2/apps", "application/json", strings.NewReader(strings.Repeat("x", 2<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
	// A chunked body (no Content-Length) is cut at the limit.
	resp, err = c.Post(ar+"/service/marathon/v2/apps", "application/json", io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<10))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: %d", resp.StatusCode)
	}
}

// TestClientLimits: oversized headers get 431, and a client that opens a
// connection and trickles its headers (slowloris) is cut off once the
// header timeout passes, without any request reaching an upstream.
func TestClientLimits(t *testing.T) {
	var hits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer upstream.Close()
	cfg := DefaultConfig()
	cfg.MaxHeaderBytes = 4 << 10
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	addr := serveRouter(t, cfg, Deps{Upstreams: &upstreams{mesos: []string{upstream.URL}}, Cluster: cluster{}})
	ar := "http://" + addr

	req, _ := http.NewRequest("GET", ar+"/mesos/master/state", nil)
	req.Header.Set("X-Big", strings.Repeat("y", 64<<10))
	resp, err := testClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %d, want 431", resp.StatusCode)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /mesos/master/state HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Keep trickling a header byte now and then; the server must still close.
	closed := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- err
				return
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the router kept a slowloris connection open: %v", err)
			}
			if hits.Load() != 0 {
				t.Errorf("%d requests reached the upstream", hits.Load())
			}
			return
		case <-time.After(50 * time.Millisecond):
			_, _ = io.WriteString(conn, "X")
		}
	}
}

func TestServiceFromApps(t *testing.T) {
	labels := map[string]string{"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_SCHEME": "http", "DCOS_SERVICE_PORT_INDEX": "1"}
	apps := marathonApps{Apps: []marathonApp{
		{ID: "/nolabels", Tasks: []marathonTask{{ID: "x", Host: "h", Ports: []int{1, 2}, State: "TASK_RUNNING"}}},
		{ID: "/web", Labels: labels, Tasks: []marathonTask{
			{ID: "c", Host: "10.0.0.3", Ports: []int{31000, 31003}, State: "TASK_RUNNING"},
			{ID: "a", Host: "10.0.0.1", Ports: []int{31000, 31001}, State: "TASK_KILLING"},
			{ID: "b", Host: "10.0.0.2", Ports: []int{31000, 31002}, State: "TASK_RUNNING"},
		}},
	}}
	got, ok := serviceFromApps(apps, "web")
	if want := (service{base: "http://10.0.0.2:31002", rewrite: true}); !ok || got != want {
		t.Errorf("web: %+v %v, want %+v", got, ok, want)
	}
	if _, ok := serviceFromApps(apps, "marathon"); ok {
		t.Error("marathon resolved to an app")
	}
	cn := marathonApp{ID: "/cn", Labels: map[string]string{"DCOS_SERVICE_NAME": "cn", "DCOS_SERVICE_SCHEME": "https", "DCOS_SERVICE_PORT_INDEX": "0"},
		Container: &appContainer{PortMappings: []struct {
			ContainerPort int `json:"containerPort"`
		}{{ContainerPort: 8443}}},
		Tasks: []marathonTask{{ID: "t", Host: "10.0.0.9", State: "TASK_RUNNING", IPAddresses: []struct {
			IPAddress string `json:"ipAddress"`
		}{{IPAddress: "9.0.0.2"}}}},
	}
	cn.Networks = append(cn.Networks, struct{ Mode string }{Mode: "container"})
	got, ok = serviceFromApps(marathonApps{Apps: []marathonApp{cn}}, "cn")
	if want := (service{base: "https://9.0.0.2:8443", rewrite: true}); !ok || got != want {
		t.Errorf("container network: %+v %v, want %+v", got, ok, want)
	}
	bad := map[string]string{"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_SCHEME": "ftp", "DCOS_SERVICE_PORT_INDEX": "0"}
	if _, ok := serviceFromApps(marathonApps{Apps: []marathonApp{{Labels: bad, Tasks: apps.Apps[1].Tasks}}}, "web"); ok {
		t.Error("an ftp scheme resolved")
	}
}

func TestServiceFromFrameworks(t *testing.T) {
	u1, u2, empty := "http://a:1", "http://b:2", ""
	var st mesosSummary
	st.Frameworks = []struct {
		ID       string  `json:"id"`
		Name     string  `json:"name"`
		WebuiURL *string `json:"webui_url"`
	}{{ID: "f1", Name: "f2", WebuiURL: &u1}, {ID: "f2", Name: "other", WebuiURL: &u2}, {ID: "f3", Name: "nourl", WebuiURL: &empty},
		{ID: "f4", Name: "/Data/kafka", WebuiURL: &empty}, {ID: "f5", Name: "null-url"}}
	got := map[string]string{}
	for _, id := range []string{"f1", "f2", "other", "nourl", "nothing", "f4", "null-url"} {
		if s, ok := serviceFromFrameworks(st, id); ok {
			got[id] = s.base + s.srv
		}
	}
	// id beats name; an empty webui_url means an SRV lookup, a null one no service.
	want := map[string]string{"f1": u1, "f2": u2, "other": u2,
		"nourl": "_nourl._tcp.marathon.mesos", "f4": "_kafka.data._tcp.marathon.mesos"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "/", "a b", "a/../b", "x.y"} {
		if n := srvName(bad); n != "" {
			t.Errorf("srvName(%q) = %q, want none", bad, n)
		}
	}
}

// TestServiceBySRV: a framework with an empty webui_url is reached at the
// address Mesos-DNS gives for its scheduler app.
func TestServiceBySRV(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "scheduler ui %s", r.URL.Path)
	}))
	defer web.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(web.URL, "http://"))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/master/state-summary":
			fmt.Fprint(w, `{"slaves": [], "frameworks": [{"id": "fw-1", "name": "kafka", "webui_url": ""}]}`)
		case "/v1/services/_kafka._tcp.marathon.mesos":
			fmt.Fprintf(w, `[{"service": "_kafka._tcp.marathon.mesos", "host": "kafka-xyz.marathon.mesos.", "ip": %q, "port": %q}]`, host, port)
		case "/v2/apps":
			fmt.Fprint(w, `{"apps": []}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	ar := newTestRouter(t, &upstreams{mesos: []string{api.URL}, marathon: api.URL, dns: api.URL})
	code, body := getBody(t, testClient(t), ar+"/service/kafka/v1/ui")
	if code != http.StatusOK || body != "scheduler ui /v1/ui" {
		t.Errorf("GET /service/kafka/v1/ui = %d %q", code, body)
	}
}

// TestChunkedStreams: a chunked body (no Content-Length, any content type)
// reaches the client chunk by chunk: the first chunk arrives while the
// upstream still holds the second back.
func TestChunkedStreams(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/recordio")
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second\n")
	}))
	defer upstream.Close()
	ar := newTestRouter(t, &upstreams{mesos: []string{upstream.URL}})
	resp, err := testClient(t).Post(ar+"/mesos/api/v1", "application/json", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
	if line, err = br.ReadString('\n'); err != nil || line != "second\n" {
		t.Errorf("second chunk: %q %v", line, err)
	}
}

func TestCacheServesStaleOnError(t *testing.T) {
	calls, fail := 0, false
	c := cache[int]{fetch: func(context.Context) (int, error) {
		calls++
		if fail {
			return 0, fmt.Errorf("leader gone")
		}
		return calls, nil
	}}
	now := time.Unix(1000, 0)
	ctx := context.Background()
	if v, err := c.get(ctx, time.Second, now); v != 1 || err != nil {
		t.Fatalf("first get: %d %v", v, err)
	}
	if v, _ := c.get(ctx, time.Second, now.Add(500*time.Millisecond)); v != 1 || calls != 1 {
		t.Errorf("within the TTL: %d after %d fetches", v, calls)
	}
	fail = true
	if v, err := c.get(ctx, time.Second, now.Add(5*time.Second)); v != 1 || err != nil {
		t.Errorf("refresh failing, stale copy young enough: %d %v", v, err)
	}
	if _, err := c.get(ctx, time.Second, now.Add(maxStale+time.Second)); err == nil {
		t.Error("a copy older than maxStale was served")
	}
}

// TestServiceRequestBuffering: by default a request body to /service/<id>/
// is read before the request goes upstream, which then gets it whole with a
// Content-Length even from a chunked client; with
// DCOS_SERVICE_REQUEST_BUFFERING=false it streams, so the upstream reads
// the first bytes while the client is still sending. A body over the buffer
// goes upstream complete too (buffered part, then the rest).
func TestServiceRequestBuffering(t *testing.T) {
	type seen struct {
		length int64
		te     []string
		body   string
	}
	got := make(chan seen, 4)
	first := make(chan struct{}, 1)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		one := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, one); err == nil {
			b.Write(one)
			first <- struct{}{} // the first bytes are here
		}
		rest, _ := io.ReadAll(r.Body)
		b.Write(rest)
		got <- seen{r.ContentLength, r.TransferEncoding, b.String()}
	}))
	defer web.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(web.URL, "http://"))
	mar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"apps":[
			{"id":"/buf","labels":{"DCOS_SERVICE_NAME":"buf","DCOS_SERVICE_SCHEME":"http","DCOS_SERVICE_PORT_INDEX":"0"},
			 "tasks":[{"id":"a","host":%[1]q,"ports":[%[2]s],"state":"TASK_RUNNING"}]},
			{"id":"/stream","labels":{"DCOS_SERVICE_NAME":"stream","DCOS_SERVICE_SCHEME":"http","DCOS_SERVICE_PORT_INDEX":"0",
			 "DCOS_SERVICE_REQUEST_BUFFERING":"false"},
			 "tasks":[{"id":"b","host":%[1]q,"ports":[%[2]s],"state":"TASK_RUNNING"}]}]}`, host, port)
	}))
	defer mar.Close()
	cfg := DefaultConfig()
	cfg.CacheTTL = 10 * time.Millisecond
	cfg.RequestBufferBytes = 64
	ar := "http://" + serveRouter(t, cfg, Deps{Upstreams: &upstreams{marathon: mar.URL}, Cluster: cluster{}})
	c := testClient(t)

	// Buffered: a chunked client body reaches the upstream with a length.
	resp, err := c.Post(ar+"/service/buf/", "text/plain", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-first
	if s := <-got; s.length != 11 || len(s.te) != 0 || s.body != "hello world" {
		t.Errorf("buffered: upstream saw length %d, transfer-encoding %q, body %q", s.length, s.te, s.body)
	}
	// Longer than the buffer: complete, streamed after the buffered part.
	long := strings.Repeat("x", 200)
	resp, err = c.Post(ar+"/service/buf/", "text/plain", io.MultiReader(strings.NewReader(long)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-first
	if s := <-got; s.body != long {
		t.Errorf("over the buffer: upstream saw %d bytes", len(s.body))
	}

	// Streaming: the upstream reads the first bytes before the client has
	// finished (the client waits for that before sending the rest).
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		resp, err := c.Post(ar+"/service/stream/", "text/plain", pr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream got nothing while the client was still sending: the body was buffered")
	}
	_, _ = pw.Write([]byte(" world"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.length != -1 || s.body != "hello world" {
		t.Errorf("streamed: upstream saw length %d, body %q", s.length, s.body)
	}
}
