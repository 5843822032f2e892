package agent

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// waitFor blocks until an update with state arrived for taskID, woken by
// the fake master on every UPDATE call (no polling delay in the figure).
func (m *fakeMaster) waitFor(b *testing.B, taskID, state string) {
	deadline := time.After(30 * time.Second)
	for {
		for _, u := range m.updatesOf(taskID) {
			if u.Status.State == state {
				return
			}
		}
		select {
		case <-m.updated:
		case <-deadline:
			b.Fatalf("task %s never reported %s", taskID, state)
		}
	}
}

// BenchmarkLaunchToRunningPosix measures LAUNCH event → TASK_RUNNING update
// at the master for a posix `sleep` task on an idle agent (one at a time;
// each task is killed before the next launch). Run with -benchtime=50x.
func BenchmarkLaunchToRunningPosix(b *testing.B) {
	m := newFakeMaster(b)
	cfg := testConfig(b, m)
	cfg.Containerizers = []string{"posix"}
	startAgent(b, cfg, nil)
	benchLaunchToRunning(b, m, func(id string) mesosv1.TaskInfo { return shellTask(id, "sleep 1000") })
}

// benchLaunchToRunning launches tasks one at a time on the agent behind m,
// timing LAUNCH → TASK_RUNNING at the master and killing each before the
// next, and reports the p50 and p99.
func benchLaunchToRunning(b *testing.B, m *fakeMaster, task func(id string) mesosv1.TaskInfo) {
	fw := testFramework("bench")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := "t-" + strconv.Itoa(i)
		start := time.Now()
		m.send(launchEvent(fw, task(id)))
		m.waitFor(b, id, mesosv1.TaskRunning)
		lat = append(lat, time.Since(start))
		b.StopTimer()
		m.send(killEvent("bench", id, 0))
		m.waitFor(b, id, mesosv1.TaskKilled)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// BenchmarkIdleAgentRSS reports the resident memory of the test process
// with one registered, idle agent (posix runtime) and the fake master.
func BenchmarkIdleAgentRSS(b *testing.B) {
	m := newFakeMaster(b)
	cfg := testConfig(b, m)
	cfg.Containerizers = []string{"posix"}
	startAgent(b, cfg, nil)
	for b.Loop() {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(rssKiB())/1024, "rss_MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_inuse_MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

func rssKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return 0
}

// BenchmarkCheckpointBatch measures one checkpoint batch of n task records
// (the writes of one event): n files fsynced together plus one directory sync.
func BenchmarkCheckpointBatch(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			c := newCheckpointer(b.TempDir())
			if err := c.init(); err != nil {
				b.Fatal(err)
			}
			rec := taskRecord{Task: shellTask("t", "sleep 1"), FrameworkID: "fw"}
			v := uint64(0)
			for b.Loop() {
				v++
				ws := make([]write, n)
				for i := range ws {
					rec.ContainerID = strconv.Itoa(i)
					ws[i] = write{name: taskFile(rec.ContainerID), version: v, data: rec}
				}
				if err := c.commit(ws...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
