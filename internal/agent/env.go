package agent

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// defaultPath is the PATH of tasks when the agent has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// taskEnv is the environment of a command task, as Mesos sets it: the
// MESOS_* variables, HOME and PATH from the agent, then the task's own
// CommandInfo.environment (VALUE variables; SECRET ones are refused).
func (a *Agent) taskEnv(t *task) ([]string, error) {
	checkpoint := "0"
	if t.rec.Framework.Checkpoint {
		checkpoint = "1"
	}
	vars := map[string]string{
		"MESOS_SANDBOX":        t.rec.Sandbox,
		"MESOS_DIRECTORY":      t.rec.Sandbox,
		"MESOS_TASK_ID":        t.id(),
		"MESOS_EXECUTOR_ID":    t.rec.ExecutorID,
		"MESOS_FRAMEWORK_ID":   t.rec.FrameworkID,
		"MESOS_AGENT_ENDPOINT": a.endpoint,
		"MESOS_SLAVE_ID":       a.ID(),
		"MESOS_SLAVE_PID":      a.pid(),
		"MESOS_CHECKPOINT":     checkpoint,
		"PATH":                 defaultPath,
	}
	switch {
	case t.rec.Containerizer == dockerRuntime:
		// The image's PATH and HOME apply inside a Docker container, not
		// the agent's.
		vars["MESOS_CONTAINER_NAME"] = "mesos-" + t.rec.ContainerID
		delete(vars, "PATH")
	case hasMesosImage(t.rec.Task):
		// Likewise in an image run by the mesos runtime, which also points
		// MESOS_SANDBOX at the sandbox's path inside the container.
		delete(vars, "PATH")
	default:
		if p := os.Getenv("PATH"); p != "" {
			vars["PATH"] = p
		}
		if h := os.Getenv("HOME"); h != "" {
			vars["HOME"] = h
		}
	}
	if cmd := commandOf(t.rec.Task); cmd != nil && cmd.Environment != nil {
		var secrets []string
		for _, v := range cmd.Environment.Variables {
			switch v.Type {
			case "", "VALUE":
				vars[v.Name] = v.Value
			case "SECRET":
				secrets = append(secrets, v.Name)
			default:
				return nil, fmt.Errorf("environment variable %q has unsupported type %q", v.Name, v.Type)
			}
		}
		if len(secrets) > 0 {
			return nil, fmt.Errorf("secret environment variables are not supported by this agent (%s)", strings.Join(secrets, ", "))
		}
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env, nil
}

// hasMesosImage reports whether a task runs a container image in the mesos
// runtime.
func hasMesosImage(ti mesosv1.TaskInfo) bool {
	ci := ti.Container
	if ci == nil && ti.Executor != nil {
		ci = ti.Executor.Container
	}
	return ci != nil && (ci.Type == "" || ci.Type == "MESOS") && ci.Mesos != nil && ci.Mesos.Image != nil
}

// chownSandbox gives the sandbox and everything fetched into it to the
// task's user, so a task that runs as another user than the agent can write
// there. Nothing to do when the task runs as the agent's user.
func chownSandbox(dir, name string) error {
	if name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %s has a non-numeric uid/gid", name)
	}
	if uid == os.Geteuid() {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// canSwitchTo reports whether tasks can run as name: root can become any
// existing user; anyone else only themselves.
func canSwitchTo(name string) bool {
	u, err := user.Lookup(name)
	if err != nil {
		return false
	}
	if os.Geteuid() == 0 {
		return true
	}
	return u.Uid == fmt.Sprint(os.Geteuid())
}
