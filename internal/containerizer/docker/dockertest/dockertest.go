// Package dockertest is test support for code that runs Docker containers:
// it reaches the local Docker daemon (skipping the test when there is none,
// failing it under CI=true), builds a test image locally from a static Go
// binary (tasksh, a small shell) in a FROM scratch image — no registry is
// needed — and checks that tests leave no containers behind.
//
// It is test support only: production code must not import it.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Client returns a client of the local daemon (DOCKER_HOST or the default
// socket), closed at the end of the test. Without a reachable daemon the
// test is skipped, or fails when CI=true.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		msg := "needs a Docker daemon (DOCKER_HOST or " + client.DefaultDockerHost + "), which is unreachable: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Host is the daemon address Client uses.
func Host(cli *client.Client) string { return cli.DaemonHost() }

// Image builds the test image (tasksh as /bin/sh, nothing else) under a
// fresh tag and removes it at the end of the test. Its ENTRYPOINT is unset
// and its CMD is ["/bin/sh", "-c", "exit 0"].
func Image(t testing.TB, cli *client.Client) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sh")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin,
		"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest/tasksh")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tasksh: %v\n%s", err, out)
	}
	sh, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY sh /bin/sh\nENV PATH=/bin\nCMD [\"/bin/sh\", \"-c\", \"exit 0\"]\n")},
		{"sh", 0o755, sh},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tag := "basalt-test/tasksh:" + hex.EncodeToString(suffix[:])
	resp, err := cli.ImageBuild(t.Context(), &ctxTar, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Labels: map[string]string{"io.basalt.test": "true"},
	})
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	err = streamError(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove test image %s: %v", tag, err)
		}
	})
	return tag
}

// streamError reads a daemon progress stream and returns the error it
// reports, if any.
func streamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// Containers lists the containers that carry label=value, as "id image
// state".
func Containers(cli *client.Client, label, value string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label+"="+value))})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.ID[:12] + " " + c.Image + " " + c.State
	}
	return out, nil
}

// RemoveContainersAtCleanup removes, when the test ends, every container
// that carries label=value: a test that fails halfway (or an agent left
// running its tasks for a restart that never comes) leaves nothing behind.
// Register it before whatever runs the containers, so that it runs after
// that has stopped.
func RemoveContainersAtCleanup(t testing.TB, cli *client.Client, label, value string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label+"="+value))})
		if err != nil {
			t.Errorf("list containers: %v", err)
			return
		}
		for _, c := range list {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				t.Errorf("remove container %s: %v", c.ID[:12], err)
			}
		}
	})
}

// NoContainers fails the test if any container carries label=value (for
// example the owner label of a runtime the test used): tests must not leak.
func NoContainers(t testing.TB, cli *client.Client, label, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label+"="+value))})
	if err != nil {
		t.Errorf("list containers: %v", err)
		return
	}
	for _, c := range list {
		t.Errorf("leaked container %s (%s, %s) with %s=%s", c.ID[:12], c.Image, c.State, label, value)
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}
