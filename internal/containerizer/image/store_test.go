package image_test

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
)

// requireRoot skips where whiteouts and owners cannot be written, and fails
// under CI, where the tests must run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the image store tests must run as root in CI (whiteouts are device nodes)")
		}
		t.Skip("skipping: needs root (whiteouts are device nodes); required under CI=true")
	}
}

func newStore(t *testing.T, cfg image.Config) *image.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := image.New(cfg, image.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// twoLayers is an image whose second layer deletes a file and makes a
// directory opaque.
func twoLayers(t *testing.T) v1.Image {
	base := imagetest.Layer(t,
		imagetest.File{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		imagetest.File{Name: "etc/gone", Mode: 0o644, Data: []byte("x")},
		imagetest.File{Name: "etc/kept", Mode: 0o640, Data: []byte("kept"), UID: 7, GID: 8},
		imagetest.File{Name: "opq/", Type: tar.TypeDir, Mode: 0o755},
		imagetest.File{Name: "opq/old", Mode: 0o644, Data: []byte("old")},
		imagetest.File{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666},
		imagetest.File{Name: "bin/link", Type: tar.TypeSymlink, Linkname: "/etc/kept"},
		imagetest.File{Name: "bin/hard", Type: tar.TypeLink, Linkname: "etc/kept"},
	)
	top := imagetest.Layer(t,
		imagetest.File{Name: "etc/.wh.gone", Mode: 0o644},
		imagetest.File{Name: "opq/.wh..wh..opq", Mode: 0o644},
		imagetest.File{Name: "opq/new", Mode: 0o644, Data: []byte("new")},
	)
	return imagetest.Image(t, v1.Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve"},
		Env: []string{"PATH=/bin", "A=1"}, User: "nobody", WorkingDir: "/srv"}, base, top)
}

func TestPullCacheAndLayers(t *testing.T) {
	requireRoot(t)
	reg := imagetest.StartRegistry(t)
	ref := reg.Push(t, "team/app:1", twoLayers(t))
	s := newStore(t, image.Config{InsecureRegistries: []string{reg.Host}})

	before := reg.Requests.Load()
	img, err := s.Get(t.Context(), image.Request{Name: ref})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Requests.Load() == before {
		t.Fatal("the first Get did not contact the registry")
	}
	if len(img.Layers) != 2 {
		t.Fatalf("layers = %v", img.Layers)
	}
	want := image.RunConfig{Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve"},
		Env: []string{"PATH=/bin", "A=1"}, User: "nobody", WorkingDir: "/srv"}
	if fmt.Sprint(img.Config) != fmt.Sprint(want) {
		t.Errorf("config = %+v, want %+v", img.Config, want)
	}
	if !strings.HasPrefix(img.Digest, "sha256:") {
		t.Errorf("digest = %q", img.Digest)
	}
	base, top := img.Layers[0], img.Layers[1]
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(base, "etc/kept"), &st); err != nil || st.Uid != 7 || st.Gid != 8 || st.Mode&0o777 != 0o640 {
		t.Errorf("etc/kept: %v uid=%d gid=%d mode=%o", err, st.Uid, st.Gid, st.Mode&0o777)
	}
	if err := syscall.Lstat(filepath.Join(base, "bin/hard"), &st); err != nil || st.Nlink != 2 {
		t.Errorf("hard link: %v nlink=%d", err, st.Nlink)
	}
	if l, err := os.Readlink(filepath.Join(base, "bin/link")); err != nil || l != "/etc/kept" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(base, "dev/null")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("device node extracted: %v", err)
	}
	if err := syscall.Lstat(filepath.Join(top, "etc/gone"), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: %v mode=%o rdev=%d", err, st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := syscall.Getxattr(filepath.Join(top, "opq"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q, %v", buf[:n], err)
	}

	// Known images are not looked up again.
	before = reg.Requests.Load()
	again, err := s.Get(t.Context(), image.Request{Name: ref})
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests.Load() - before; n != 0 {
		t.Errorf("second Get made %d registry requests, want 0", n)
	}
	if fmt.Sprint(again.Layers) != fmt.Sprint(img.Layers) {
		t.Errorf("layers changed: %v vs %v", again.Layers, img.Layers)
	}
	// A forced pull asks the registry, and reuses the extracted layers.
	if _, err := s.Get(t.Context(), image.Request{Name: ref, ForcePull: true}); err != nil {
		t.Fatal(err)
	}
	if reg.Requests.Load() == before {
		t.Error("a forced pull did not contact the registry")
	}
	// The same layers under another name are shared.
	ref2 := reg.Push(t, "other:2", twoLayers(t))
	img2, err := s.Get(t.Context(), image.Request{Name: ref2})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(img2.Layers) != fmt.Sprint(img.Layers) {
		t.Errorf("identical layers not shared: %v vs %v", img2.Layers, img.Layers)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "layers"))
	if len(ents) != 2 {
		t.Errorf("cache holds %d entries, want 2 layers", len(ents))
	}
}

func TestConcurrentPullsShareOneDownload(t *testing.T) {
	requireRoot(t)
	reg := imagetest.StartRegistry(t)
	ref := reg.Push(t, "app:1", twoLayers(t))
	// One pull, alone, to count its requests.
	n1 := func() int64 {
		s := newStore(t, image.Config{InsecureRegistries: []string{reg.Host}})
		before := reg.Requests.Load()
		if _, err := s.Get(t.Context(), image.Request{Name: ref}); err != nil {
			t.Fatal(err)
		}
		return reg.Requests.Load() - before
	}()
	s := newStore(t, image.Config{InsecureRegistries: []string{reg.Host}})
	before := reg.Requests.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.Get(t.Context(), image.Request{Name: ref})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Goroutines that arrive after the first pull finished find the image
	// known; none pulls again.
	if n := reg.Requests.Load() - before; n != n1 {
		t.Errorf("8 concurrent Gets made %d requests; one pull makes %d", n, n1)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "layers"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary extraction left: %s", e.Name())
		}
	}
}

func TestPullErrors(t *testing.T) {
	requireRoot(t)
	reg := imagetest.StartRegistry(t)
	reg.Push(t, "app:1", twoLayers(t))
	s := newStore(t, image.Config{InsecureRegistries: []string{reg.Host}})

	_, err := s.Get(t.Context(), image.Request{Name: reg.Host + "/app:nope"})
	if !errors.Is(err, image.ErrNotFound) {
		t.Errorf("unknown tag: %v, want ErrNotFound", err)
	}
	_, err = s.Get(t.Context(), image.Request{Name: reg.Host + "/nothing:1"})
	if !errors.Is(err, image.ErrNotFound) {
		t.Errorf("unknown repository: %v, want ErrNotFound", err)
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	s2 := newStore(t, image.Config{InsecureRegistries: []string{dead}})
	_, err = s2.Get(t.Context(), image.Request{Name: dead + "/app:1"})
	if !errors.Is(err, image.ErrUnreachable) {
		t.Errorf("dead registry: %v, want ErrUnreachable", err)
	}

	// Plain HTTP only to listed registries.
	s3 := newStore(t, image.Config{})
	_, err = s3.Get(t.Context(), image.Request{Name: reg.Host + "/app:1"})
	if err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("unlisted http registry: %v", err)
	}

	_, err = s.Get(t.Context(), image.Request{Name: "UPPER/case"})
	if !errors.Is(err, image.ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
}

func TestCredentials(t *testing.T) {
	requireRoot(t)
	h := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			// Only reads are authenticated here (pulls GET the manifest):
			// the test pushes first, which starts with a HEAD.
			if r.Method == http.MethodGet {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	reg := &imagetest.Registry{Host: host}
	ref := reg.Push(t, "private:1", twoLayers(t))

	s := newStore(t, image.Config{InsecureRegistries: []string{host}})
	_, err := s.Get(t.Context(), image.Request{Name: ref})
	if !errors.Is(err, image.ErrUnauthorized) {
		t.Fatalf("no credentials: %v, want ErrUnauthorized", err)
	}
	if strings.Contains(fmt.Sprint(err), "s3cret") {
		t.Fatal("error shows the secret")
	}
	if _, err := s.Get(t.Context(), image.Request{Name: ref, Credential: &image.Credential{Username: "alice", Password: "s3cret"}}); err != nil {
		t.Fatalf("image credential: %v", err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, `{"auths":{"http://%s":{"auth":%q}}}`, host, auth), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, image.Config{InsecureRegistries: []string{host}, DockerConfig: cfgFile})
	if _, err := s2.Get(t.Context(), image.Request{Name: ref}); err != nil {
		t.Fatalf("docker config credentials: %v", err)
	}
}

func TestMirror(t *testing.T) {
	requireRoot(t)
	mirror := imagetest.StartRegistry(t)
	mirror.Push(t, "team/app:1", twoLayers(t))
	// The default registry is unreachable: only the mirror can serve.
	s := newStore(t, image.Config{DefaultRegistry: "127.0.0.1:1", Mirror: mirror.Host,
		InsecureRegistries: []string{mirror.Host, "127.0.0.1:1"}})
	img, err := s.Get(t.Context(), image.Request{Name: "team/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "127.0.0.1:1/team/app:1" || len(img.Layers) != 2 {
		t.Errorf("image = %+v", img)
	}
}

func TestArchives(t *testing.T) {
	requireRoot(t)
	sandbox := t.TempDir()
	src := twoLayers(t)
	imagetest.SaveArchive(t, filepath.Join(sandbox, "saved.tar"), "app:1", src)
	s := newStore(t, image.Config{})
	img, err := s.Get(t.Context(), image.Request{Name: "archive:saved.tar", Sandbox: sandbox})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 || img.Config.WorkingDir != "/srv" {
		t.Errorf("docker save archive: %+v", img)
	}

	// An OCI layout, tarred.
	dir := t.TempDir()
	p, err := layout.Write(dir, emptyIndex())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(src); err != nil {
		t.Fatal(err)
	}
	if err := tarDir(dir, filepath.Join(sandbox, "oci.tar")); err != nil {
		t.Fatal(err)
	}
	img2, err := s.Get(t.Context(), image.Request{Name: "archive:oci.tar", Sandbox: sandbox})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(img2.Layers) != fmt.Sprint(img.Layers) {
		t.Errorf("OCI layout layers %v, want the cached %v", img2.Layers, img.Layers)
	}

	if err := os.WriteFile(filepath.Join(sandbox, "junk.tar"), []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"archive:junk.tar", "archive:missing.tar"} {
		if _, err := s.Get(t.Context(), image.Request{Name: name, Sandbox: sandbox}); !errors.Is(err, image.ErrBadArchive) {
			t.Errorf("%s: %v, want ErrBadArchive", name, err)
		}
	}
	outside := filepath.Join(t.TempDir(), "outside.tar")
	imagetest.SaveArchive(t, outside, "app:1", src)
	if err := os.Symlink(outside, filepath.Join(sandbox, "escape.tar")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"archive:../x.tar", "archive:/etc/passwd", "archive:escape.tar"} {
		if _, err := s.Get(t.Context(), image.Request{Name: name, Sandbox: sandbox}); err == nil {
			t.Errorf("%s: loaded an archive outside the sandbox", name)
		}
	}
}

func TestExtractStaysInside(t *testing.T) {
	requireRoot(t)
	cases := map[string][]imagetest.File{
		"dotdot":           {{Name: "../evil", Mode: 0o644, Data: []byte("x")}},
		"nested dotdot":    {{Name: "a/../../evil", Mode: 0o644, Data: []byte("x")}},
		"absolute symlink": {{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}, {Name: "l/evil", Mode: 0o644, Data: []byte("x")}},
		"relative symlink": {{Name: "l", Type: tar.TypeSymlink, Linkname: "../../.."}, {Name: "l/evil", Mode: 0o644, Data: []byte("x")}},
		"symlink then file": {{Name: "evil", Type: tar.TypeSymlink, Linkname: "../evil"},
			{Name: "evil", Mode: 0o644, Data: []byte("x")}},
		"hard link out": {{Name: "h", Type: tar.TypeLink, Linkname: "../evil"}},
		"whiteout out":  {{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}, {Name: "l/.wh.evil", Mode: 0o644}},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "layer", "root")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			writeTar(t, &buf, files)
			_ = image.Extract(&buf, dir) // may fail or not; nothing may land outside
			assertOnly(t, parent, dir)
		})
	}
}

// assertOnly fails if anything exists under parent besides dir and its
// ancestors.
func assertOnly(t *testing.T, parent, dir string) {
	t.Helper()
	_ = filepath.Walk(parent, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if p == parent || strings.HasPrefix(dir, p+"/") || p == dir || strings.HasPrefix(p, dir+"/") {
			return nil
		}
		t.Errorf("extraction wrote outside the layer: %s", p)
		return nil
	})
}

func writeTar(t testing.TB, buf *bytes.Buffer, files []imagetest.File) {
	t.Helper()
	tw := tar.NewWriter(buf)
	for _, f := range files {
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: typ, Linkname: f.Linkname, Size: int64(len(f.Data))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			_, _ = tw.Write(f.Data)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func FuzzExtract(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root (whiteouts are device nodes)")
	}
	for _, files := range [][]imagetest.File{
		{{Name: "a/b", Mode: 0o644, Data: []byte("x")}},
		{{Name: "../evil", Mode: 0o644}},
		{{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}, {Name: "l/x", Mode: 0o644}},
		{{Name: "d/.wh..wh..opq"}, {Name: "d/.wh.f"}},
		{{Name: "h", Type: tar.TypeLink, Linkname: "a"}},
	} {
		var buf bytes.Buffer
		writeTar(f, &buf, files)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "layer")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = image.Extract(bytes.NewReader(b), dir)
		assertOnly(t, parent, dir)
	})
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"busybox:1", "reg:5000/x/y@sha256:" + strings.Repeat("a", 64), "archive:a/b.tar",
		"archive:../x", "archive:/abs", "UPPER", "", "a:b:c", "localhost/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := image.ParseName(s, "registry.example:5000", []string{"registry.example:5000"})
		if err != nil {
			return
		}
		if r.Archive != "" {
			if strings.HasPrefix(r.Archive, "/") || strings.Contains("/"+r.Archive+"/", "/../") {
				t.Errorf("%q: archive path %q escapes the sandbox", s, r.Archive)
			}
			return
		}
		if r.Registry == nil || r.String() == "" {
			t.Errorf("%q: empty reference", s)
		}
	})
}

func emptyIndex() v1.ImageIndex { return empty.Index }

// tarDir writes the files under dir into a tar at dst.
func tarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = tw.AddFS(os.DirFS(dir))
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func TestNotARegistry(t *testing.T) {
	requireRoot(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	s := newStore(t, image.Config{InsecureRegistries: []string{host}})
	_, err := s.Get(t.Context(), image.Request{Name: host + "/app:1"})
	if !errors.Is(err, image.ErrUnreachable) || !strings.Contains(err.Error(), "does not answer as a Docker registry") {
		t.Errorf("web server as registry: %v", err)
	}
}
