package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
)

// IsolationConfig configures the mesos runtime's isolation. The flags are
// Mesos' (--cgroups_root, --cgroups_enable_cfs,
// --enforce_container_disk_quota, --container_disk_watch_interval).
type IsolationConfig struct {
	CgroupsRoot                string        `flag:"cgroups-root" help:"parent cgroup of the mesos runtime's containers (agents sharing a host need different ones)"`
	CgroupsEnableCFS           bool          `flag:"cgroups-enable-cfs" help:"mesos runtime: also cap each container's CPU time at its cpus with a CFS quota (otherwise cpus are only shares)"`
	CgroupsPidsLimit           int64         `flag:"cgroups-pids-limit" help:"mesos runtime: most processes and threads per container (0: no limit)"`
	EnforceContainerDiskQuota  bool          `flag:"enforce-container-disk-quota" help:"mesos runtime: kill a task whose sandbox outgrows its disk resource (REASON_CONTAINER_LIMITATION_DISK)"`
	ContainerDiskWatchInterval time.Duration `flag:"container-disk-watch-interval" help:"mesos runtime: how often sandboxes are measured for the disk quota"`
}

// DefaultIsolationConfig returns Mesos' defaults.
func DefaultIsolationConfig() IsolationConfig {
	return IsolationConfig{
		CgroupsRoot:                mesos.DefaultCgroupsRoot,
		ContainerDiskWatchInterval: mesos.DefaultDiskWatchInterval,
	}
}

// Validate reports every problem of the isolation flags.
func (c IsolationConfig) Validate() error {
	var errs []error
	if c.CgroupsPidsLimit < 0 {
		errs = append(errs, errors.New("cgroups-pids-limit must not be negative"))
	}
	if c.ContainerDiskWatchInterval < 0 {
		errs = append(errs, errors.New("container-disk-watch-interval must not be negative"))
	}
	return errors.Join(errs...)
}

// StateIsolation is what the agent's /state says of its isolation.
type StateIsolation struct {
	Runtime       string `json:"runtime"`                  // runtime of tasks without a DOCKER container
	CgroupVersion string `json:"cgroup_version,omitempty"` // v1 or v2 (mesos runtime)
	Warning       string `json:"warning,omitempty"`        // why the agent does not isolate, when mesos was asked for
}

// isolationFlag is Mesos' --isolation value for the runtime in use.
func (i StateIsolation) isolationFlag() string {
	switch i.Runtime {
	case mesos.Name:
		return "cgroups/cpu,cgroups/mem,cgroups/pids,disk/du,namespaces/pid,namespaces/ipc,filesystem/posix"
	case posix.Name:
		return "posix/cpu,posix/mem,posix/disk"
	}
	return ""
}

// newPosixRuntime builds the posix runtime over <work_dir>/containers/posix.
func newPosixRuntime(cfg Config, workDir string, logger *slog.Logger) (*posix.Containerizer, error) {
	warm := cfg.PosixWarmShims
	if warm <= 0 {
		warm = -1 // posix.Config: negative turns warm shims off
	}
	return posix.New(posix.Config{StateDir: filepath.Join(workDir, "containers", posix.Name), WarmShims: warm},
		posix.Deps{Logger: logger})
}

// newMesosRuntime builds the mesos runtime when this host can isolate (root
// and cgroups), and otherwise the posix runtime, with a warning that is
// logged and shown in /state. available is mesos.Available (a parameter so
// that the fallback can be tested on a host that can isolate).
func newMesosRuntime(cfg Config, workDir string, logger *slog.Logger, log *slog.Logger,
	available func() (string, error)) (containerizer.Containerizer, StateIsolation, error) {
	version, err := available()
	if err != nil {
		warning := fmt.Sprintf("the mesos runtime cannot isolate on this host (%v); tasks run with posix, without namespaces, cgroups or limits", err)
		log.Warn("mesos runtime unavailable; falling back to posix", "error", err)
		p, perr := newPosixRuntime(cfg, workDir, logger)
		return p, StateIsolation{Runtime: posix.Name, Warning: warning}, perr
	}
	warm := cfg.PosixWarmShims
	if warm <= 0 {
		warm = -1
	}
	iso := cfg.Isolation
	images, err := image.New(cfg.Images.storeConfig(workDir), image.Deps{Logger: logger})
	if err != nil {
		return nil, StateIsolation{}, err
	}
	m, err := mesos.New(mesos.Config{
		StateDir:          filepath.Join(workDir, "containers", mesos.Name),
		CgroupsRoot:       iso.CgroupsRoot,
		EnableCFS:         iso.CgroupsEnableCFS,
		PidsLimit:         iso.CgroupsPidsLimit,
		EnforceDiskQuota:  iso.EnforceContainerDiskQuota,
		DiskWatchInterval: iso.ContainerDiskWatchInterval,
		WarmShims:         warm,
	}, mesos.Deps{Logger: logger, Images: images, ResolvConf: taskResolvConf(cfg.Discovery, log)})
	if err != nil {
		return nil, StateIsolation{}, err
	}
	log.Info("mesos runtime isolates tasks", "cgroups", version, "cgroups_root", m.Config().CgroupsRoot)
	return m, StateIsolation{Runtime: mesos.Name, CgroupVersion: version}, nil
}
