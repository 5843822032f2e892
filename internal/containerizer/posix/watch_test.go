package posix

import (
	"os/exec"
	"testing"
	"time"
)

// TestWaitExit checks both ways of watching a process that is not waited
// for: the pidfd, and the /proc polling fallback. The process stays a
// zombie (nobody reaps it until the end), which must count as exited.
func TestWaitExit(t *testing.T) {
	for _, mode := range []string{"pidfd", "poll"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command("sleep", "1000")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			pid := cmd.Process.Pid
			st, err := readStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan bool)
			go func() {
				if mode == "pidfd" {
					done <- waitPidfd(pid, st.StartTime, nil)
					return
				}
				pollExit(pid, st.StartTime, time.Millisecond, nil)
				done <- true
			}()
			select {
			case ok := <-done:
				t.Fatalf("returned (%v) while the process runs", ok)
			case <-time.After(20 * time.Millisecond):
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			select {
			case ok := <-done:
				if !ok {
					t.Errorf("pidfd unusable on this kernel")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("exit not noticed")
			}
		})
	}
}

func TestWaitExitStop(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	st, _ := readStat(cmd.Process.Pid)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { waitExit(cmd.Process.Pid, st.StartTime, time.Millisecond, stop); close(done) }()
	close(stop)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("stop not honoured")
	}
}
