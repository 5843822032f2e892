package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// HostFacts are the host measurements resource detection starts from.
type HostFacts struct {
	CPUs      int
	MemBytes  uint64 // total memory
	DiskBytes uint64 // size of the work dir's filesystem
	GPUs      int    // NVIDIA GPUs the driver reports; 0 when none or unknown
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// DetectHost measures this host: CPUs, total memory and the size of the
// filesystem holding dir.
func DetectHost(dir string) (HostFacts, error) {
	f := HostFacts{CPUs: runtime.NumCPU()}
	mem, err := memTotal()
	if err != nil {
		return f, fmt.Errorf("detect memory: %w", err)
	}
	f.MemBytes = mem
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return f, fmt.Errorf("detect disk of %s: %w", dir, err)
	}
	f.DiskBytes = st.Blocks * uint64(st.Bsize)
	// The NVIDIA driver lists one directory per GPU; without it, no gpus
	// are offered (other vendors are not detected).
	if gpus, err := os.ReadDir("/proc/driver/nvidia/gpus"); err == nil {
		f.GPUs = len(gpus)
	}
	return f, nil
}

// memTotal reads MemTotal from /proc/meminfo, falling back to sysinfo(2).
func memTotal() (uint64, error) {
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := bytes.Fields(sc.Bytes())
			if len(fields) >= 2 && string(fields[0]) == "MemTotal:" {
				kb, err := strconv.ParseUint(string(fields[1]), 10, 64)
				if err == nil {
					return kb * 1024, nil
				}
			}
		}
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, err
	}
	return uint64(si.Totalram) * uint64(si.Unit), nil
}

// DetectedResources applies Mesos' defaults (reference §1.2) to the host
// facts: all CPUs; memory minus 1 GiB (half when under 2 GiB); disk minus
// 5 GiB (half when under 10 GiB); the DC/OS port range of the agent's kind;
// gpus when there are any. Memory and disk are in MB.
func DetectedResources(h HostFacts, public bool) (mesosv1.Resources, error) {
	mem := float64(h.MemBytes) / 2
	if h.MemBytes >= 2*gib {
		mem = float64(h.MemBytes - gib)
	}
	disk := float64(h.DiskBytes) / 2
	if h.DiskBytes >= 10*gib {
		disk = float64(h.DiskBytes - 5*gib)
	}
	ports := PrivatePorts
	if public {
		ports = PublicPorts
	}
	pr, err := mesosv1.ParseResources("ports:"+ports, "")
	if err != nil {
		return nil, fmt.Errorf("built-in port range: %w", err)
	}
	out := mesosv1.Resources{
		mesosv1.NewScalar(mesosv1.ResCPUs, float64(h.CPUs)),
		mesosv1.NewScalar(mesosv1.ResMem, float64(int64(mem/mib))),
		mesosv1.NewScalar(mesosv1.ResDisk, float64(int64(disk/mib))),
	}
	if h.GPUs > 0 {
		out = append(out, mesosv1.NewScalar(mesosv1.ResGPUs, float64(h.GPUs)))
	}
	return append(out, pr...), nil
}

// MergeResources returns the explicit resources plus every detected one
// whose name the explicit list does not mention: an explicit entry replaces
// the detected resource of that name entirely. Detected resources are
// reserved to role when it is not "*".
func MergeResources(explicit, detected mesosv1.Resources, role string) mesosv1.Resources {
	named := map[string]bool{}
	for _, r := range explicit {
		named[r.Name] = true
	}
	out := append(mesosv1.Resources{}, explicit...)
	for _, r := range detected {
		if named[r.Name] {
			continue
		}
		if role != "" && role != mesosv1.UnreservedRole {
			r.Reservations = []mesosv1.ReservationInfo{{Type: "STATIC", Role: role}}
		}
		out = append(out, r)
	}
	return out.Normalize()
}
