package mesos

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestPlanImage(t *testing.T) {
	img := image.Image{Name: "app", Layers: []string{"/l1", "/l2"}, Config: image.RunConfig{
		Entrypoint: []string{"/entry", "e1"}, Cmd: []string{"c1", "c2"},
		Env: []string{"PATH=/img/bin", "A=image", "B=image"}, User: "app", WorkingDir: "/srv"}}
	f := false
	for name, tc := range map[string]struct {
		cmd      *mesosv1.CommandInfo
		user     string
		wantArgv []string // nil: the command is kept
		wantUser string
	}{
		"no command":      {cmd: nil, wantArgv: []string{"/entry", "e1", "c1", "c2"}, wantUser: "app"},
		"args":            {cmd: &mesosv1.CommandInfo{Shell: &f, Arguments: []string{"x", "y"}}, wantArgv: []string{"/entry", "e1", "x", "y"}, wantUser: "app"},
		"shell":           {cmd: &mesosv1.CommandInfo{Value: "echo hi"}, wantUser: "app"},
		"value":           {cmd: &mesosv1.CommandInfo{Shell: &f, Value: "/bin/true", Arguments: []string{"true"}}, wantUser: "app"},
		"task user wins":  {cmd: &mesosv1.CommandInfo{Value: "id"}, user: "root", wantUser: "root"},
		"no value, noarg": {cmd: &mesosv1.CommandInfo{Shell: &f}, wantArgv: []string{"/entry", "e1", "c1", "c2"}, wantUser: "app"},
	} {
		t.Run(name, func(t *testing.T) {
			spec := containerizer.LaunchSpec{Task: mesosv1.TaskInfo{Command: tc.cmd}, User: tc.user,
				Env: []string{"B=task", "MESOS_SANDBOX=/host/sandbox", "C=task"}}
			got, rf, err := planImage(spec, img)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantArgv == nil {
				if got.Task.Command != tc.cmd {
					t.Errorf("command replaced: %+v", got.Task.Command)
				}
			} else if got.Task.Command.IsShell() || got.Task.Command.Value != tc.wantArgv[0] || !cmp.Equal(got.Task.Command.Arguments, tc.wantArgv) {
				t.Errorf("command %+v, want argv %v", got.Task.Command, tc.wantArgv)
			}
			wantEnv := []string{"PATH=/img/bin", "A=image", "B=task", "MESOS_SANDBOX=" + posix.SandboxMountPoint, "C=task"}
			if !cmp.Equal(got.Env, wantEnv) {
				t.Errorf("env %v, want %v", got.Env, wantEnv)
			}
			if got.User != "" || rf.User != tc.wantUser || rf.Workdir != "/srv" || !cmp.Equal(rf.Layers, img.Layers) {
				t.Errorf("user %q, rootfs %+v", got.User, rf)
			}
		})
	}
	empty := img
	empty.Config = image.RunConfig{}
	if _, _, err := planImage(containerizer.LaunchSpec{}, empty); err == nil || !strings.Contains(err.Error(), "no entrypoint or cmd") {
		t.Errorf("nothing to run: %v", err)
	}
	if _, rf, _ := planImage(containerizer.LaunchSpec{Task: mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: "x"}}}, empty); rf.Workdir != posix.SandboxMountPoint {
		t.Errorf("default workdir %q", rf.Workdir)
	}
}

func TestPlanVolumes(t *testing.T) {
	vols := []mesosv1.Volume{
		{HostPath: "/data", ContainerPath: "/mnt/data", Mode: "RO"},
		{HostPath: "cache", ContainerPath: "c"},
		{HostPath: "/etc/x", ContainerPath: "rel/x", Mode: "RW"},
	}
	withImage, err := planVolumes(vols, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []posix.Mount{
		{Source: "/data", Target: "/mnt/data", ReadOnly: true},
		{Source: "cache", SourceInSandbox: true, Target: posix.SandboxMountPoint + "/c"},
		{Source: "/etc/x", Target: posix.SandboxMountPoint + "/rel/x"},
	}
	if !cmp.Equal(withImage, want) {
		t.Errorf("with image: %s", cmp.Diff(want, withImage))
	}
	without, err := planVolumes(vols, false)
	if err != nil {
		t.Fatal(err)
	}
	want[1].Target, want[1].TargetInSandbox = "c", true
	want[2].Target, want[2].TargetInSandbox = "rel/x", true
	if !cmp.Equal(without, want) {
		t.Errorf("without image: %s", cmp.Diff(want, without))
	}

	_, err = planVolumes([]mesosv1.Volume{
		{HostPath: "../up", ContainerPath: "/x"},
		{HostPath: "/x", ContainerPath: "a/../../b"},
		{HostPath: "/x", ContainerPath: "/", Mode: "RW"},
		{HostPath: "/x", ContainerPath: "/y", Mode: "rw"},
		{ContainerPath: "/y"},
		{HostPath: "/x"},
		{ContainerPath: "/img", Image: &mesosv1.Image{Type: "DOCKER"}},
	}, true)
	if err == nil {
		t.Fatal("bad volumes accepted")
	}
	for i := range 7 {
		if !strings.Contains(err.Error(), fmt.Sprintf("volumes[%d]", i)) {
			t.Errorf("volume %d not reported: %v", i, err)
		}
	}
}
