package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/proccluster"
)

// roleEnv makes the e2e test binary play a part instead of running tests:
// "backend" is a Marathon task serving its identity over HTTP.
const roleEnv = "BASALT_E2E_ROLE"

// inNetnsEnv marks the re-executed test binary that runs inside a fresh
// network namespace.
const inNetnsEnv = "BASALT_E2E_IN_NETNS"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "backend":
		if err := serveBackend(); err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			os.Exit(1)
		}
		return
	case "client":
		if err := getAll(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// serveBackend answers GET / with the task's id and GET /health with 200,
// or 503 once a file named "unhealthy" exists in its sandbox.
func serveBackend() error {
	id := os.Getenv("MESOS_TASK_ID")
	sandbox := os.Getenv("MESOS_SANDBOX")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, id) })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(sandbox, "unhealthy")); err == nil {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		}
	})
	return http.ListenAndServe(":"+os.Getenv("PORT0"), mux)
}

// getAll GETs each URL, trying again for up to a minute while the name
// does not resolve or the connection fails, and prints "GOT <url> <body>"
// for each: a task's client (it resolves as the task does, through the
// container's /etc/resolv.conf).
func getAll(urls []string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, u := range urls {
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := hc.Get(u)
			if err == nil {
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode == http.StatusOK {
					fmt.Printf("GOT %s %s\n", u, body)
					break
				}
				err = fmt.Errorf("%s: %s %v", u, resp.Status, rerr)
			}
			if time.Now().After(deadline) {
				return err
			}
			fmt.Fprintln(os.Stderr, "client: retrying:", err)
			time.Sleep(500 * time.Millisecond) // a process polling a server, not a test waiting
		}
	}
	return nil
}

// TestVIPThroughMarathon runs a whole cluster inside a fresh network
// namespace (so VIP addresses land on that namespace's loopback only): one
// master and two agents, the first running the agent DNS server and the VIP
// balancer. A Marathon app with three instances declares VIP_0
// "/prod/web:80"; a client resolves prodweb.marathon.l4lb.thisdcos.directory
// through the agent's DNS and connects to the VIP: all three instances
// answer. One instance is made unhealthy (it still serves when asked
// directly): no new connection through the VIP reaches it. Another is
// killed: every connection through the VIP still succeeds, none reaching it.
func TestVIPThroughMarathon(t *testing.T) {
	if os.Getenv(inNetnsEnv) == "1" {
		vipScenario(t)
		return
	}
	runInNetns(t, "TestVIPThroughMarathon")
}

// runInNetns re-executes the test binary to run the test named test inside
// a fresh network namespace (loopback up, nothing else), where it sees
// inNetnsEnv=1 and BASALT_E2E_DIR, a directory whose processes are killed
// afterwards. It needs root and ip (iproute2).
func runInNetns(t *testing.T, test string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s needs root (network namespaces)", test)
		}
		t.Skipf("%s needs root (network namespaces)", test)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s needs ip (iproute2; scripts/test installs it)", test)
		}
		t.Skipf("%s needs ip (iproute2)", test)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s needs nsenter (util-linux)", test)
		}
		t.Skipf("%s needs nsenter (util-linux)", test)
	}
	ns := fmt.Sprintf("basalt-e2e-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "set", "lo", "up")

	dir := t.TempDir()
	// nsenter (util-linux) rather than `ip netns exec`, which also gives the
	// command a fresh /sys without the cgroup mounts the mesos runtime needs.
	cmd := exec.CommandContext(t.Context(), "nsenter", "--net=/run/netns/"+ns, "--", os.Args[0],
		"-test.run", "^"+test+"$", "-test.v", "-test.timeout", "5m")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1", "BASALT_E2E_DIR="+dir)
	out, err := cmd.CombinedOutput()
	// Processes of a failed run must not outlive the namespace.
	proccluster.KillUnder(dir)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("in namespace %s: %v\n%s", ns, err, out)
	}
	t.Logf("in namespace %s:\n%s", ns, lastLines(string(out), 30))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// vipScenario is the test proper, inside the namespace.
func vipScenario(t *testing.T) {
	b := buildBins(t)
	dir := os.Getenv("BASALT_E2E_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	agentDNS := net.JoinHostPort(proccluster.AgentIP(0), "53")
	c := startWith(t, proccluster.Options{
		Bin: b.basalt, Dir: dir, Masters: 1, Agents: 2,
		MasterArgs: fastMasterArgs, AgentArgs: fastAgentArgs,
		AgentArgsFor: func(i int) []string {
			if i == 0 {
				return []string{"--l4lb", "--dns-listen", agentDNS}
			}
			return nil
		},
	})
	ctx := t.Context()
	m := c.Masters[0]
	app := fmt.Sprintf(`{
	  "id": "/prod/web", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 3,
	  "portDefinitions": [{"port": 0, "name": "http", "labels": {"VIP_0": "/prod/web:80"}}],
	  "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
	    "gracePeriodSeconds": 5, "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 0}]
	}`, roleEnv+"=backend exec "+os.Args[0])
	if st, body := marathonDo(ctx, "POST", m.MarathonURL+"/v2/apps", app); st != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d %s", st, body)
	}

	// The VIP's address, from the agent's own DNS server.
	var vip string
	waitFor(t, 60*time.Second, "the VIP name through the agent's DNS", func(ctx context.Context) error {
		q := new(mdns.Msg)
		q.SetQuestion("prodweb.marathon.l4lb.thisdcos.directory.", mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: time.Second}).ExchangeContext(ctx, q, agentDNS)
		if err != nil {
			return err
		}
		if len(r.Answer) != 1 {
			return fmt.Errorf("answer %v", r.Answer)
		}
		vip = net.JoinHostPort(r.Answer[0].(*mdns.A).A.String(), "80")
		return nil
	})
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(ctx context.Context, addr string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	var tasks []string
	waitFor(t, 60*time.Second, "three healthy instances", func(ctx context.Context) error {
		a, err := getApp(ctx, m.MarathonURL, "/prod/web")
		if err != nil {
			return err
		}
		if a.TasksHealthy != 3 {
			return fmt.Errorf("%d healthy", a.TasksHealthy)
		}
		tasks = tasks[:0]
		for _, tk := range a.Tasks {
			tasks = append(tasks, tk.ID)
		}
		return nil
	})
	waitFor(t, 30*time.Second, "all three instances behind the VIP "+vip, func(ctx context.Context) error {
		seen := map[string]bool{}
		for range 12 {
			id, err := get(ctx, vip)
			if err != nil {
				return err
			}
			seen[id] = true
		}
		for _, id := range tasks {
			if !seen[id] {
				return fmt.Errorf("not reached: %s (seen %v)", id, seen)
			}
		}
		return nil
	})

	// Make one instance unhealthy: it keeps serving when asked directly,
	// but the VIP stops sending it new connections.
	sick := tasks[0]
	all, _ := filepath.Glob(filepath.Join(dir, "agent*", "slaves", "*", "frameworks", "*", "executors", sick, "runs", "latest"))
	var sandboxes []string
	for _, p := range all {
		if !strings.Contains(p, "/slaves/latest/") { // the agent's "latest" link names the same directory
			sandboxes = append(sandboxes, p)
		}
	}
	if len(sandboxes) != 1 {
		t.Fatalf("sandbox of %s: %q", sick, sandboxes)
	}
	if err := os.WriteFile(filepath.Join(sandboxes[0], "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "Marathon sees the instance unhealthy", func(ctx context.Context) error {
		a, err := getApp(ctx, m.MarathonURL, "/prod/web")
		if err != nil {
			return err
		}
		if a.TasksUnhealthy < 1 {
			return fmt.Errorf("%d unhealthy", a.TasksUnhealthy)
		}
		return nil
	})
	// The balancer applies the change within a second of the status update;
	// wait for one clean round, then every further connection must avoid it.
	waitFor(t, 10*time.Second, "the VIP drops the unhealthy instance", func(ctx context.Context) error {
		for range 6 {
			id, err := get(ctx, vip)
			if err != nil {
				return err
			}
			if id == sick {
				return fmt.Errorf("reached %s", sick)
			}
		}
		return nil
	})
	var got []string
	for range 30 {
		id, err := get(ctx, vip)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if slices.Contains(got, sick) {
		t.Errorf("a connection through the VIP reached the unhealthy instance %s", sick)
	}
	// It is alive: asked directly, it answers.
	a, err := getApp(ctx, m.MarathonURL, "/prod/web")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range a.Tasks {
		if tk.ID == sick {
			id, err := get(ctx, net.JoinHostPort(tk.Host, fmt.Sprint(tk.Ports[0])))
			if err != nil || id != sick {
				t.Errorf("the unhealthy instance asked directly: %q %v", id, err)
			}
		}
	}

	// Kill a healthy instance (and scale down, so Marathon does not
	// replace it): from the moment Marathon has killed it, every
	// connection through the VIP still succeeds, and none reaches it.
	killed := tasks[1]
	if st, body := marathonDo(ctx, "DELETE", m.MarathonURL+"/v2/apps/prod/web/tasks/"+killed+"?scale=true", ""); st != http.StatusOK {
		t.Fatalf("kill %s = %d %s", killed, st, body)
	}
	waitFor(t, 30*time.Second, "Marathon no longer lists the killed instance", func(ctx context.Context) error {
		a, err := getApp(ctx, m.MarathonURL, "/prod/web")
		if err != nil {
			return err
		}
		for _, tk := range a.Tasks {
			if tk.ID == killed {
				return fmt.Errorf("%s still listed (%s)", killed, tk.State)
			}
		}
		return nil
	})
	for range 30 {
		id, err := get(ctx, vip)
		if err != nil {
			t.Fatalf("through the VIP after the kill: %v", err)
		}
		if id == killed || id == sick {
			t.Errorf("a connection through the VIP reached %s", id)
		}
	}
}
