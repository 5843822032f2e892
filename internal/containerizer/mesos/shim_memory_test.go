package mesos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkShimMemory measures the per-task overhead of the mesos runtime:
// the memory of each task's shim, the `basalt` binary re-executed (built
// here, as the agent runs it), with 50 sleeping tasks. It reports the
// average VmRSS (/proc/<pid>/status), PSS and private memory
// (/proc/<pid>/smaps_rollup) of the shims. Run with -benchtime=1x.
func BenchmarkShimMemory(b *testing.B) {
	requireIsolation(b)
	const n = 50
	bin := filepath.Join(b.TempDir(), "basalt")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/basalt-dcos/basalt/cmd/basalt").CombinedOutput(); err != nil {
		b.Fatalf("build basalt: %v\n%s", err, out)
	}
	dir := b.TempDir()
	c := newMesos(b, Config{StateDir: dir, CgroupsRoot: testRoot(b), ShimCommand: []string{bin}, WarmShims: -1})
	ctx := context.Background()
	for b.Loop() {
		var ids []string
		for i := range n {
			sp := benchSpec(b, fmt.Sprintf("m%d", i))
			if err := c.Launch(ctx, sp); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, sp.ContainerID)
		}
		var rss, pss, private float64
		for _, id := range ids {
			var p struct {
				ShimPID int `json:"shim_pid"`
			}
			raw, err := os.ReadFile(filepath.Join(dir, id, "pids.json"))
			if err != nil || json.Unmarshal(raw, &p) != nil || p.ShimPID == 0 {
				b.Fatalf("pids of %s: %v %s", id, err, raw)
			}
			if d := os.Getenv("SHIM_SMAPS_DUMP"); d != "" {
				raw, _ := os.ReadFile("/proc/" + strconv.Itoa(p.ShimPID) + "/smaps")
				_ = os.WriteFile(d, raw, 0o644)
			}
			st := procKB(b, p.ShimPID, "status")
			sr := procKB(b, p.ShimPID, "smaps_rollup")
			rss += st["VmRSS"]
			pss += sr["Pss"]
			private += sr["Private_Clean"] + sr["Private_Dirty"]
		}
		b.ReportMetric(rss/n/1024, "rss_MiB/shim")
		b.ReportMetric(pss/n/1024, "pss_MiB/shim")
		b.ReportMetric(private/n/1024, "private_MiB/shim")
		for _, id := range ids {
			_ = c.Destroy(ctx, id)
		}
	}
}

// procKB reads the "Key:   N kB" lines of /proc/<pid>/<file>.
func procKB(b *testing.B, pid int, file string) map[string]float64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 2 && fs[1] == "kB" {
			n, _ := strconv.ParseFloat(fs[0], 64)
			m[k] = n
		}
	}
	return m
}
