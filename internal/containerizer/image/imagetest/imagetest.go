// Package imagetest builds container images inside tests and serves them
// from an in-process registry, so that tests of the image store, the mesos
// runtime and the cluster need no outside registry. The images hold tasksh
// (internal/containerizer/docker/dockertest/tasksh), a static Go binary, as
// /bin/sh.
//
// It is test support: production code must not import it.
package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of a test layer.
type File struct {
	Name     string
	Mode     int64
	Data     []byte
	Type     byte   // tar.TypeReg when 0
	Linkname string // for symlinks and hard links
	UID, GID int
}

// Layer is a layer holding files.
func Layer(t testing.TB, files ...File) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: typ, Linkname: f.Linkname,
			Uid: f.UID, Gid: f.GID, ModTime: time.Unix(1_700_000_000, 0)}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Tasksh builds tasksh, a static binary, and returns its bytes.
func Tasksh(t testing.TB) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sh")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin,
		"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest/tasksh")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tasksh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Image is an image of layers with the given config (on top of an empty
// image).
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ShellImage is an image with tasksh as /bin/sh, an /etc/passwd with root
// and "nobody" (65534), /tmp, and the given config.
func ShellImage(t testing.TB, sh []byte, cfg v1.Config) v1.Image {
	t.Helper()
	base := Layer(t,
		File{Name: "bin/", Type: tar.TypeDir, Mode: 0o755},
		File{Name: "bin/sh", Mode: 0o755, Data: sh},
		File{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		File{Name: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")},
		File{Name: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	)
	return Image(t, cfg, base)
}

// Registry is an in-memory registry on 127.0.0.1 over plain HTTP.
type Registry struct {
	// Host is host:port.
	Host string
	// Requests counts the requests it served.
	Requests atomic.Int64
	srv      *httptest.Server
}

// StartRegistry starts a registry, closed at cleanup.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{}
	h := registry.New(registry.Logger(discardLogger()))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Requests.Add(1)
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Push pushes img as repo:tag ("app:1") and returns the full reference.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref.Name()
}

// SaveArchive writes img as a `docker save` tar to path, tagged tag.
func SaveArchive(t testing.TB, path, tag string, img v1.Image) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatal(err)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
