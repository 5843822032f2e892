package benchkit

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Init prepares package testing for WithCluster: its flags exist, and
// testing.Benchmark runs a benchmark function once.
func Init() error {
	testing.Init()
	if err := flag.CommandLine.Set("test.benchtime", "1x"); err != nil {
		return fmt.Errorf("set benchtime: %w", err)
	}
	return nil
}

// Machine describes the host: CPU model, logical cores, RAM, OS and Go.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	ram := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kib, err := strconv.ParseFloat(f[1], 64); err == nil {
					ram = fmt.Sprintf(", %.1f GiB RAM", kib/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s/%s, %s", runtime.NumCPU(), model, ram, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// LoadAvg is the 1-minute load average: other work on the box skews wall-clock figures.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Commit is `git describe --always --dirty` of the checkout (the short
// commit hash, "-dirty" if there are uncommitted changes), or "unknown".
func Commit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
