package cli

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the test types on the master side,
// the CLI reads the slave side as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pseudo-terminal: %v", err)
		}
		t.Skipf("no pseudo-terminal (/dev/ptmx): %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestSetupPromptsOnATerminal: with no credentials and a terminal, setup
// asks for the username and the password (without echo) and logs in.
func TestSetupPromptsOnATerminal(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	master, slave := openPTY(t)
	go func() {
		// Everything the terminal shows (echo) is read and dropped, so
		// the pty's buffer never fills.
		buf := make([]byte, 4096)
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	prompts := &syncBuffer{wrote: make(chan struct{}, 1)}
	var stdout strings.Builder
	dir := t.TempDir()
	env := Env{Stdout: &stdout, Stderr: prompts, Stdin: slave,
		LookupEnv: func(k string) (string, bool) { return dir, k == "BASALT_DIR" }}
	done := make(chan int, 1)
	go func() { done <- Run(t.Context(), []string{"cluster", "setup", fr.srv.URL}, env) }()

	waitFor(t, prompts, "Username: ")
	if _, err := master.WriteString("alice\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, prompts, "Password for alice: ")
	if _, err := master.WriteString("wonderland\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stdout.String(), "logged in, attached") {
			t.Fatalf("setup with prompts: exit %d, stdout %q, stderr %q", code, stdout.String(), prompts.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("setup did not finish within 30s of typing the password")
	}
}
