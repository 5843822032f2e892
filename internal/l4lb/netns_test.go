package l4lb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"testing"
	"time"

	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// childEnv makes the test binary run a Balancer driven over stdin/stdout
// (see runChild) instead of the tests. The netns test starts it with
// `ip netns exec`, so every thread of the child is in the namespace: Go
// moves goroutines between threads, so a namespace set on one thread would
// not hold for the goroutines that accept and dial.
const childEnv = "BASALT_L4LB_NETNS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := runChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "l4lb child:", err)
			// A non-zero exit code without os.Exit: the child reports the
			// failure on stderr and the parent notices it stopped answering.
			panic(err)
		}
		return
	}
	m.Run()
}

// childRequest is one line on the child's stdin; the child answers each with
// its Status as one JSON line.
type childRequest struct {
	Sync []records.VIP `json:"sync,omitempty"`
	// DoSync distinguishes "sync to nothing" from "status only".
	DoSync bool `json:"do_sync"`
}

func runChild(in io.Reader, out io.Writer) error {
	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGTERM)
	defer cancel()
	cfg := DefaultConfig()
	cfg.DrainTimeout = time.Hour
	b, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var req childRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return err
		}
		if req.DoSync {
			b.Sync(req.Sync)
		}
		if err := enc.Encode(b.Status()); err != nil {
			return err
		}
	}
	cancel()
	return errors.Join(sc.Err(), <-done)
}

// needRoot skips (or, under CI, fails) when the namespace test cannot run.
func needNetns(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (to create network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "the ip command (apt-get install iproute2)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs fn on a fresh OS thread that has joined namespace ns. The
// thread is thrown away afterwards (the goroutine exits still locked), so
// no other goroutine ever runs in ns. Sockets fn opens stay in ns.
func inNetns(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func TestNetnsVIP(t *testing.T) {
	needNetns(t)
	id := os.Getpid()
	nsA, nsB := fmt.Sprintf("hosta-%d", id), fmt.Sprintf("hostb-%d", id)
	vethA, vethB := fmt.Sprintf("l4a%d", id), fmt.Sprintf("l4b%d", id)
	for _, ns := range []string{nsA, nsB} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	run(t, "ip", "link", "add", vethA, "type", "veth", "peer", "name", vethB)
	run(t, "ip", "link", "set", vethA, "netns", nsA)
	run(t, "ip", "link", "set", vethB, "netns", nsB)
	for _, h := range []struct{ ns, dev, addr string }{{nsA, vethA, "10.77.0.1/24"}, {nsB, vethB, "10.77.0.2/24"}} {
		run(t, "ip", "-n", h.ns, "addr", "add", h.addr, "dev", h.dev)
		run(t, "ip", "-n", h.ns, "link", "set", h.dev, "up")
		run(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
	}

	// Three backends in hostb, each answering with its identity.
	byID := map[string]string{}
	var backends []records.Backend
	for i := range 3 {
		var ln net.Listener
		if err := inNetns(t, nsB, func() (err error) {
			ln, err = net.Listen("tcp", "10.77.0.2:0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("backend-%d", i)
		serveIdentity(t, ln, name)
		a := netip.MustParseAddrPort(ln.Addr().String())
		byID[name] = a.String()
		backends = append(backends, records.Backend{IP: a.Addr(), Port: a.Port(), TaskID: name})
	}

	// The balancer in hosta, as a child process.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("ip", "netns", "exec", nsA, self, "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=1")
	child.Stderr = t.Output()
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{}) // closed when the child has exited; then childErr is set
	var childErr error
	go func() {
		childErr = child.Wait()
		close(childDone)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-childDone:
		case <-time.After(30 * time.Second):
			child.Process.Kill()
			<-childDone
		}
	})
	answers := bufio.NewScanner(stdout)
	ask := func(req childRequest) Status {
		t.Helper()
		line, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stdin.Write(append(line, '\n')); err != nil {
			t.Fatalf("write to balancer: %v", err)
		}
		if !answers.Scan() {
			t.Fatalf("balancer stopped answering: %v", answers.Err())
		}
		var st Status
		if err := json.Unmarshal(answers.Bytes(), &st); err != nil {
			t.Fatalf("balancer answer %q: %v", answers.Text(), err)
		}
		return st
	}
	syncTo := func(vips []records.VIP, want func(Status) bool) Status {
		t.Helper()
		ask(childRequest{Sync: vips, DoSync: true})
		var st Status
		eventually(t, "the balancer to apply", func() bool {
			st = ask(childRequest{})
			return want(st)
		})
		return st
	}
	vipAddr := "11.0.0.7:80"
	hasVIPAddr := func() bool {
		return strings.Contains(run(t, "ip", "-n", nsA, "-o", "addr", "show", "dev", "lo"), "11.0.0.7/32 scope host")
	}
	dial := func() *identityConn {
		t.Helper()
		var c net.Conn
		if err := inNetns(t, nsA, func() (err error) {
			c, err = net.DialTimeout("tcp", vipAddr, 10*time.Second)
			return err
		}); err != nil {
			t.Fatalf("dial %s in %s: %v", vipAddr, nsA, err)
		}
		ic, err := openIdentity(c)
		if err != nil {
			t.Fatalf("through the VIP: %v", err)
		}
		return ic
	}
	vipWith := func(bs ...records.Backend) []records.VIP {
		return []records.VIP{{Name: "web", Framework: "marathon", FQDN: "web.marathon.l4lb.thisdcos.directory.",
			IP: netip.MustParseAddr("11.0.0.7"), Port: 80, Protocol: "tcp", Backends: bs}}
	}

	st := syncTo(vipWith(backends...), func(st Status) bool { return st.VIPs == 1 })
	if len(st.Errors) > 0 || st.Mode != "userspace" || len(st.Backends) != 1 || st.Backends[0].Backends != 3 {
		t.Fatalf("status after the first sync: %+v", st)
	}
	t.Logf("status: %+v", st)
	if !hasVIPAddr() {
		t.Fatalf("11.0.0.7/32 scope host not on lo in %s:\n%s", nsA, run(t, "ip", "-n", nsA, "addr"))
	}

	seen := map[string]int{}
	var long *identityConn
	for range 12 {
		c := dial()
		seen[c.id]++
		if c.id == "backend-1" && long == nil {
			long = c
			continue
		}
		c.echo(t, "hello")
		c.Close()
	}
	if len(seen) != 3 {
		t.Fatalf("connections reached %v, want all three backends", seen)
	}

	// backend-1 fails its health check.
	syncTo(vipWith(backends[0], backends[2]), func(st Status) bool {
		return len(st.Backends) == 1 && st.Backends[0].Backends == 2
	})
	for range 8 {
		c := dial()
		if c.id == "backend-1" {
			t.Fatal("a new connection reached the removed backend")
		}
		c.echo(t, "hello")
		c.Close()
	}
	long.echo(t, "opened before the change")

	// The VIP goes away while the long connection is open: it keeps working
	// and the address stays until it closes.
	syncTo(nil, func(st Status) bool { return st.VIPs == 0 })
	long.echo(t, "draining")
	if !hasVIPAddr() {
		t.Fatal("the VIP address went away under an open connection")
	}
	long.Close()
	eventually(t, "11.0.0.7 to leave lo", func() bool { return !hasVIPAddr() })
	if st := ask(childRequest{}); len(st.Addresses) != 0 {
		t.Errorf("status still lists addresses: %+v", st)
	}

	// Shutdown removes what is left: add the VIP back, then stop the child.
	syncTo(vipWith(backends...), func(st Status) bool { return st.VIPs == 1 })
	if !hasVIPAddr() {
		t.Fatal("VIP address not added back")
	}
	stdin.Close()
	select {
	case <-childDone:
		if childErr != nil {
			t.Fatalf("balancer exit: %v", childErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("balancer did not stop after its input closed")
	}
	if hasVIPAddr() {
		t.Error("address left behind after Run returned")
	}
}
