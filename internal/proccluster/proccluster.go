// Package proccluster runs a Basalt cluster as real `basalt` processes —
// masters and agents, each on its own loopback address (127.0.0.1x for
// masters, 127.0.0.2x for agents) with free ports — for the e2e tests and
// the bench scenarios. It can kill a process with any signal (kill -9 is
// the point), restart it over the same data directory, and find the leader.
//
// It drives processes only through their command line and public HTTP APIs;
// it must not import internal/master or internal/agent.
package proccluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Build compiles ./cmd/basalt (or another main package) from the module at
// moduleDir into dir and returns the binary's path.
func Build(ctx context.Context, moduleDir, pkg, dir string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// FreePort returns a TCP port that is free on ip right now.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pickDNS picks a port free for both UDP and TCP on ip and holds both
// until Start releases them.
func pickDNS(ip string, held *[]net.Listener) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		*held = append(*held, l, packetCloser{pc})
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on %s", ip)
}

// packetCloser lets a held UDP socket sit in the list of held listeners.
type packetCloser struct{ net.PacketConn }

func (packetCloser) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (p packetCloser) Addr() net.Addr          { return p.LocalAddr() }

// Proc is one basalt process.
type Proc struct {
	Name           string
	IP             string
	URL            string // base URL of its HTTP API
	MarathonURL    string // base URL of its Marathon API (masters only)
	DNSAddr        string // host:port of its DNS server, UDP and TCP (masters only)
	DNSHTTPURL     string // base URL of its Mesos-DNS HTTP API (masters only)
	AdminRouterURL string // base URL of its Admin Router (masters only)
	Args           []string
	Env            []string // added to the runner's environment (secrets stay off the command line)
	LogPath        string
	bin            string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the process (again, after a kill).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running", p.Name)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n=== start %s %s\n", p.bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.bin, p.Args...)
	if len(p.Env) > 0 {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so a kill of the test runner's group does not
	// double-kill and Ctrl-C in a terminal reaches only the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID returns the process id (0 when not running).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig and, for SIGKILL, waits until the process is gone.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if sig == syscall.SIGKILL {
		<-done
	}
	return nil
}

// Stop sends SIGTERM and waits up to timeout, then SIGKILLs.
func (p *Proc) Stop(timeout time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = p.Signal(syscall.SIGKILL)
	}
}

// Log returns the process's log so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Login is a user's uid and password.
type Login struct{ UID, Password string }

// Options configures a cluster.
type Options struct {
	Bin     string // path of the basalt binary
	Dir     string // where data dirs and logs go
	Masters int    // 1, 3 or 5
	Agents  int
	// Extra flags per role, appended to the ones the harness sets. Masters
	// run with --security disabled (the components' ports open, as the
	// tests expect); a test of security passes --security strict here.
	MasterArgs []string
	AgentArgs  []string
	// Login, for masters started with --security strict, is the account the
	// harness's own reads (State, WaitReady, GetJSON) log in as, at the
	// first master's Admin Router, when a master answers 401.
	Login *Login
	// AgentArgsFor adds flags to agent i only (after AgentArgs).
	AgentArgsFor func(i int) []string
	// AgentResources is passed as --resources (default: a small fixed set
	// so tests do not depend on the machine).
	AgentResources func(i int) string
}

// Cluster is a set of running basalt processes.
type Cluster struct {
	opts    Options
	token   atomic.Pointer[string] // with opts.Login, once logged in
	Masters []*Proc
	Agents  []*Proc
	client  *http.Client
}

// MasterIP is the loopback address of master i (0-based).
func MasterIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// AgentIP is the loopback address of agent i (0-based).
func AgentIP(i int) string { return fmt.Sprintf("127.0.0.%d", 31+i) }

// Start launches the masters, then the agents, and returns without
// waiting for readiness (see WaitReady).
func Start(opts Options) (*Cluster, error) {
	if opts.Masters < 1 {
		opts.Masters = 1
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, client: &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	// Every port is picked while the earlier picks are still held, so no two
	// of them can be the same; all are released before the processes start.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	pick := func(ip string) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var peers []string
	type ports struct{ http, peer, client, marathon, dns, dnsHTTP, ar, arTLS int }
	mports := make([]ports, opts.Masters)
	for i := range opts.Masters {
		ip := MasterIP(i)
		var err error
		if mports[i].http, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].peer, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].client, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].marathon, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].dns, err = pickDNS(ip, &held); err != nil {
			return nil, err
		}
		if mports[i].dnsHTTP, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].ar, err = pick(ip); err != nil {
			return nil, err
		}
		if mports[i].arTLS, err = pick(ip); err != nil {
			return nil, err
		}
		peers = append(peers, net.JoinHostPort(ip, strconv.Itoa(mports[i].peer)))
	}
	for i := range opts.Masters {
		ip := MasterIP(i)
		name := fmt.Sprintf("master%d", i+1)
		args := []string{"master",
			"--listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].http)),
			"--advertise-ip", ip,
			"--data-dir", filepath.Join(opts.Dir, name),
			"--store-client-port", strconv.Itoa(mports[i].client),
			"--marathon-listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].marathon)),
			"--dns-listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].dns)),
			"--dns-http-listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].dnsHTTP)),
			"--adminrouter-listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].ar)),
			"--adminrouter-tls-listen", net.JoinHostPort(ip, strconv.Itoa(mports[i].arTLS)),
			"--security", "disabled",
		}
		if opts.Masters > 1 {
			args = append(args, "--masters", strings.Join(peers, ","))
		}
		args = append(args, opts.MasterArgs...)
		p := &Proc{Name: name, IP: ip, URL: fmt.Sprintf("http://%s:%d", ip, mports[i].http), Args: args,
			MarathonURL:    fmt.Sprintf("http://%s:%d", ip, mports[i].marathon),
			DNSAddr:        net.JoinHostPort(ip, strconv.Itoa(mports[i].dns)),
			DNSHTTPURL:     fmt.Sprintf("http://%s:%d", ip, mports[i].dnsHTTP),
			AdminRouterURL: fmt.Sprintf("http://%s:%d", ip, mports[i].ar),
			LogPath:        filepath.Join(opts.Dir, name+".log"), bin: opts.Bin}
		c.Masters = append(c.Masters, p)
	}
	for i := range opts.Agents {
		ip := AgentIP(i)
		port, err := pick(ip)
		if err != nil {
			return nil, err
		}
		arPort, err := pick(ip)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("agent%d", i+1)
		res := "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
		if opts.AgentResources != nil {
			res = opts.AgentResources(i)
		}
		args := []string{"agent",
			"--master", strings.Join(c.MasterURLs(), ","),
			"--listen", net.JoinHostPort(ip, strconv.Itoa(port)),
			"--advertise-ip", ip,
			"--hostname", ip,
			"--work-dir", filepath.Join(opts.Dir, name),
			"--resources", res,
			"--adminrouter-listen", net.JoinHostPort(ip, strconv.Itoa(arPort)),
			"--security", "disabled", // as the masters unless a test says otherwise
		}
		args = append(args, opts.AgentArgs...)
		if opts.AgentArgsFor != nil {
			args = append(args, opts.AgentArgsFor(i)...)
		}
		c.Agents = append(c.Agents, &Proc{Name: name, IP: ip, URL: fmt.Sprintf("http://%s:%d", ip, port), Args: args,
			LogPath: filepath.Join(opts.Dir, name+".log"), bin: opts.Bin})
	}
	for _, l := range held {
		l.Close()
	}
	held = nil
	procs := append(append([]*Proc{}, c.Masters...), c.Agents...)
	if opts.Masters > 1 && !storeTLSOff(opts.MasterArgs) {
		// Store TLS (the default): the first master bootstraps the CA and
		// writes the master join token before its store is up; the others
		// join with it through its Admin Router HTTPS port.
		if err := c.Masters[0].Start(); err != nil {
			c.Close()
			return nil, err
		}
		tok, err := waitFile(filepath.Join(opts.Dir, "master1", "master-join-token"), 30*time.Second)
		if err != nil {
			c.Close()
			return nil, err
		}
		joinURL := "https://" + net.JoinHostPort(MasterIP(0), strconv.Itoa(mports[0].arTLS))
		for _, m := range c.Masters[1:] {
			m.Args = append(m.Args, "--join-url", joinURL)
			m.Env = append(m.Env, "BASALT_JOIN_TOKEN="+tok) // not on the command line
		}
		procs = procs[1:]
	}
	for _, p := range procs {
		if err := p.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// storeTLSOff reports whether args turn store TLS off.
func storeTLSOff(args []string) bool {
	for i, a := range args {
		if a == "--store-tls=false" || (a == "--store-tls" && i+1 < len(args) && args[i+1] == "false") {
			return true
		}
	}
	return false
}

// waitFile polls until path exists and is not empty, and returns its
// content without surrounding whitespace.
func waitFile(path string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil && len(strings.TrimSpace(string(data))) > 0 {
			return strings.TrimSpace(string(data)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s did not appear within %v", path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Dir is the directory holding the cluster's data directories and logs.
func (c *Cluster) Dir() string { return c.opts.Dir }

// Under reports whether process pid runs with its working directory inside
// dir (a task of an agent whose work dir is there).
func Under(pid int, dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return err == nil && (cwd == abs || strings.HasPrefix(cwd, abs+"/"))
}

// MasterURLs lists the masters' base URLs.
func (c *Cluster) MasterURLs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = m.URL
	}
	return out
}

// Close stops every process (SIGTERM, then SIGKILL).
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, p := range append(append([]*Proc{}, c.Agents...), c.Masters...) {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(10 * time.Second) }()
	}
	wg.Wait()
	KillUnder(c.opts.Dir)
}

// KillUnder SIGKILLs every process whose working directory is inside dir:
// the tasks of this cluster's agents, which outlive a stopped agent on
// purpose (a restarted agent recovers them).
func KillUnder(dir string) {
	if dir == "" {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if Under(pid, dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Logs returns every process's log, for a failing test.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, p := range append(append([]*Proc{}, c.Masters...), c.Agents...) {
		fmt.Fprintf(&b, "----- %s (%s) -----\n%s\n", p.Name, p.LogPath, tail(p.Log(), 200))
	}
	return b.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Leader asks the running masters for the leader (via /master/redirect) and
// returns the leading process, or an error when none is known.
func (c *Cluster) Leader(ctx context.Context) (*Proc, error) {
	var lastErr error
	for _, m := range c.Masters {
		if !m.Running() {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/master/redirect", nil)
		resp, err := c.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect {
			lastErr = fmt.Errorf("%s: /master/redirect: %s", m.Name, resp.Status)
			continue
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			lastErr = err
			continue
		}
		for _, cand := range c.Masters {
			cu, _ := url.Parse(cand.URL)
			if cu.Host == loc.Host && cand.Running() {
				return cand, nil
			}
		}
		lastErr = fmt.Errorf("%s names leader %s, which is not a running master", m.Name, loc.Host)
	}
	if lastErr == nil {
		lastErr = errors.New("no master running")
	}
	return nil, lastErr
}

// GetJSON fetches url into v.
func (c *Cluster) GetJSON(ctx context.Context, u string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if tok := c.token.Load(); tok != nil {
		req.Header.Set("Authorization", "token="+*tok)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && c.opts.Login != nil {
		if err := c.login(ctx); err != nil {
			return err
		}
		return fmt.Errorf("GET %s: %s (logged in; ask again)", u, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// login gets a token for opts.Login from the first master's Admin Router.
func (c *Cluster) login(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"uid": c.opts.Login.UID, "password": c.opts.Login.Password})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Masters[0].AdminRouterURL+"/acs/api/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil || out.Token == "" {
		return fmt.Errorf("log in as %s: %s", c.opts.Login.UID, resp.Status)
	}
	c.token.Store(&out.Token)
	return nil
}

// State returns the leader's /master/state.
func (c *Cluster) State(ctx context.Context) (*mesosv1.StateResponse, error) {
	l, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	var st mesosv1.StateResponse
	if err := c.GetJSON(ctx, l.URL+"/master/state", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Poll calls cond every interval until it returns nil or ctx ends, and then
// returns cond's last error.
func Poll(ctx context.Context, interval time.Duration, cond func(context.Context) error) error {
	var last error
	for {
		if last = cond(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// WaitReady waits until a leader is elected and every running agent is
// registered and active.
func (c *Cluster) WaitReady(ctx context.Context) error {
	return Poll(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		want := 0
		for _, a := range c.Agents {
			if a.Running() {
				want++
			}
		}
		active := 0
		for _, s := range st.Slaves {
			if s.Active {
				active++
			}
		}
		if active < want {
			return fmt.Errorf("%d of %d agents active", active, want)
		}
		return nil
	})
}
