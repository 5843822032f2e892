package posix

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
)

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Basalt runs on.
const clockTicks = 100

// Usage reports CPU time and RSS summed over the processes of the task's
// session, and the bytes used in the sandbox, with the launch's limits.
func (c *Containerizer) Usage(ctx context.Context, containerID string) (containerizer.Usage, error) {
	ct, err := c.get(containerID)
	if err != nil {
		return containerizer.Usage{}, err
	}
	select {
	case <-ct.done:
		return containerizer.Usage{}, fmt.Errorf("usage of container %s: container has ended", containerID)
	default:
	}
	pids := ct.taskPids()
	u := containerizer.Usage{
		Timestamp:      time.Now(),
		CPUsLimit:      ct.spec.CPUs,
		MemLimitBytes:  uint64(ct.spec.MemMB * (1 << 20)),
		DiskLimitBytes: uint64(ct.spec.DiskMB * (1 << 20)),
	}
	if pids.TaskPID != 0 {
		page := uint64(os.Getpagesize())
		for _, pid := range sessionMembers(pids.TaskPID) {
			st, err := readStat(pid)
			if err != nil {
				continue // ended meanwhile
			}
			u.CPUsUserSeconds += float64(st.UTime) / clockTicks
			u.CPUsSystemSeconds += float64(st.STime) / clockTicks
			if st.RSSPages > 0 {
				u.MemRSSBytes += uint64(st.RSSPages) * page
			}
		}
	}
	u.DiskUsedBytes = dirSize(ctx, ct.spec.Dir)
	return u, nil
}

// dirSize sums the sizes of the regular files under dir (best effort).
func dirSize(ctx context.Context, dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}
