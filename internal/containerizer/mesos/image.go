package mesos

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Images provisions container images (image.Store does).
type Images interface {
	Get(ctx context.Context, req image.Request) (image.Image, error)
}

// imageOf returns the task's MESOS container image, nil for none.
func imageOf(spec containerizer.LaunchSpec) *mesosv1.Image {
	if ci := containerOf(spec); ci != nil && ci.Mesos != nil {
		return ci.Mesos.Image
	}
	return nil
}

func containerOf(spec containerizer.LaunchSpec) *mesosv1.ContainerInfo {
	if spec.Task.Container != nil {
		return spec.Task.Container
	}
	if spec.Task.Executor != nil {
		return spec.Task.Executor.Container
	}
	return nil
}

// imageRequest turns the task's image into a store request.
func imageRequest(img *mesosv1.Image, sandbox string) (image.Request, error) {
	if img.Type != "" && img.Type != "DOCKER" {
		return image.Request{}, fmt.Errorf("image type %q is not supported (only DOCKER)", img.Type)
	}
	if img.Docker == nil || img.Docker.Name == "" {
		return image.Request{}, errors.New("the DOCKER image has no name")
	}
	req := image.Request{Name: img.Docker.Name, Sandbox: sandbox, ForcePull: img.Cached != nil && !*img.Cached}
	if c := img.Docker.Credential; c != nil {
		req.Credential = &image.Credential{Username: c.Principal, Password: c.Secret}
	}
	return req, nil
}

// planImage makes spec run in img, by Mesos' rules:
//   - a shell command (CommandInfo.shell, the default) runs as
//     /bin/sh -c VALUE inside the image;
//   - shell=false with a value runs that executable with the arguments
//     (arguments[0] being argv[0]), ignoring the image's entrypoint and cmd;
//   - shell=false without a value (Marathon's args) runs the image's
//     entrypoint followed by the arguments, or by the image's cmd when there
//     are none; no command at all runs the entrypoint and cmd.
//
// The environment is the image's, then the task's (which wins), with
// MESOS_SANDBOX pointing at the sandbox inside the container. The task's user
// (CommandInfo.user or the framework's) wins over the image's; the working
// directory is the image's, else the sandbox. spec.User is cleared: the user
// is looked up in the image, not on the host.
func planImage(spec containerizer.LaunchSpec, img image.Image) (containerizer.LaunchSpec, *posix.Rootfs, error) {
	cmd := spec.Task.Command
	switch {
	case cmd != nil && cmd.IsShell():
		// kept: the shim runs /bin/sh -c in the rootfs
	case cmd != nil && cmd.Value != "":
		// kept: an explicit executable
	default:
		var args []string
		if cmd != nil {
			args = cmd.Arguments
		}
		argv := slices.Clone(img.Config.Entrypoint)
		if len(args) > 0 {
			argv = append(argv, args...)
		} else {
			argv = append(argv, img.Config.Cmd...)
		}
		if len(argv) == 0 || argv[0] == "" {
			return spec, nil, fmt.Errorf("image %s has no entrypoint or cmd, and the task gives no command", img.Name)
		}
		nc := mesosv1.CommandInfo{Shell: new(bool), Value: argv[0], Arguments: argv}
		if cmd != nil {
			nc.URIs, nc.Environment, nc.User = cmd.URIs, cmd.Environment, cmd.User
		}
		spec.Task.Command = &nc
	}
	spec.Env = mergeEnv(img.Config.Env, spec.Env, []string{"MESOS_SANDBOX=" + posix.SandboxMountPoint})
	rf := &posix.Rootfs{Layers: img.Layers, Workdir: img.Config.WorkingDir, User: spec.User}
	if rf.Workdir == "" {
		rf.Workdir = posix.SandboxMountPoint
	}
	if rf.User == "" {
		rf.User = img.Config.User
	}
	spec.User = ""
	return spec, rf, nil
}

// mergeEnv merges KEY=VALUE lists, a later list winning, in first-seen key
// order.
func mergeEnv(lists ...[]string) []string {
	var order []string
	vals := map[string]string{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if _, ok := vals[k]; !ok {
				order = append(order, k)
			}
			vals[k] = kv
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, vals[k])
	}
	return out
}

// planVolumes turns the container's volumes into mounts, reporting every
// bad one. Only host-path volumes are supported: an absolute host_path is a
// host directory or file; a relative one is a path in the sandbox. An
// absolute container_path is inside the image (with one) or the same path on
// the host, which must exist (without); a relative one is in the sandbox.
func planVolumes(vols []mesosv1.Volume, withImage bool) ([]posix.Mount, error) {
	var errs []error
	var out []posix.Mount
	for i, v := range vols {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("volumes[%d]: %s", i, fmt.Sprintf(format, a...)))
		}
		m := posix.Mount{}
		switch v.Mode {
		case "", "RW":
		case "RO":
			m.ReadOnly = true
		default:
			bad("mode %q must be RW or RO", v.Mode)
		}
		if v.Image != nil || (v.Source != nil && v.Source.Type != "HOST_PATH" && v.Source.Type != "") {
			bad("only host_path volumes are supported")
			continue
		}
		if v.HostPath == "" {
			bad("host_path is required")
			continue
		}
		if v.ContainerPath == "" {
			bad("container_path is required")
			continue
		}
		if hasDotDot(v.HostPath) {
			bad("host_path %q must not contain ..", v.HostPath)
			continue
		}
		if hasDotDot(v.ContainerPath) {
			bad("container_path %q must not contain ..", v.ContainerPath)
			continue
		}
		if path.IsAbs(v.HostPath) {
			m.Source = path.Clean(v.HostPath)
		} else {
			m.Source, m.SourceInSandbox = path.Clean(v.HostPath), true
		}
		cp := path.Clean(v.ContainerPath)
		switch {
		case cp == "/" || cp == ".":
			bad("container_path %q would hide the whole file system", v.ContainerPath)
			continue
		case path.IsAbs(cp):
			m.Target = cp
		case withImage:
			m.Target = path.Join(posix.SandboxMountPoint, cp)
		default:
			m.Target, m.TargetInSandbox = cp, true
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}
