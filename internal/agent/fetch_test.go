package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/config"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// fileServer serves fixed contents by path and counts the requests per path.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	files map[string][]byte
}

func newFileServer(t testing.TB, files map[string][]byte) *fileServer {
	t.Helper()
	s := &fileServer{hits: map[string]int{}, files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		body, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fileServer) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *fileServer) set(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

// testCache returns an empty cache of max bytes in a temporary directory.
func testCache(t testing.TB, max int64) *fetchCache {
	t.Helper()
	return newFetchCache(FetcherCacheConfig{Dir: filepath.Join(t.TempDir(), "cache"), Size: max}, "", slog.New(slog.DiscardHandler))
}

// cacheDirNames lists the cache directory (nil before its first use).
func cacheDirNames(t testing.TB, c *fetchCache) []string {
	t.Helper()
	des, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// keysOf returns the cache keys of uris, sorted.
func keysOf(uris ...string) []string {
	var keys []string
	for _, u := range uris {
		keys = append(keys, cacheKey(u))
	}
	slices.Sort(keys)
	return keys
}

func newSandbox(t testing.TB) string {
	t.Helper()
	sb := filepath.Join(t.TempDir(), "sandbox")
	if err := os.Mkdir(sb, 0o755); err != nil {
		t.Fatal(err)
	}
	return sb
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tarGz builds a .tar.gz holding dir/inner.txt with content "inner".
func tarGz(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, err := range []error{
		tw.WriteHeader(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755}),
		tw.WriteHeader(&tar.Header{Name: "dir/inner.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5}),
		func() error { _, err := tw.Write([]byte("inner")); return err }(),
		tw.Close(),
		gz.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func ptr[T any](v T) *T { return &v }

// TestFetchFormsCachedAndNot fetches a .tar.gz through every URI form,
// with and without the cache, extracted and kept as is.
func TestFetchFormsCachedAndNot(t *testing.T) {
	tgz := tarGz(t)
	srv := newFileServer(t, map[string][]byte{"/pkg/app.tar.gz": tgz})
	src := filepath.Join(t.TempDir(), "app.tar.gz")
	if err := os.WriteFile(src, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"http":     srv.URL + "/pkg/app.tar.gz",
		"file URL": "file://" + src,
		"absolute": src,
	}
	for form, uri := range forms {
		for _, cached := range []bool{false, true} {
			for _, extract := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/cache=%v/extract=%v", form, cached, extract), func(t *testing.T) {
					c := testCache(t, 1<<20)
					sb := newSandbox(t)
					u := mesosv1.CommandURI{Value: uri, Cache: &cached, Extract: &extract}
					if err := (fetcher{client: srv.Client(), cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{u}, sb, 0); err != nil {
						t.Fatal(err)
					}
					if got := readFile(t, filepath.Join(sb, "app.tar.gz")); got != string(tgz) {
						t.Error("the archive in the sandbox differs from the source")
					}
					_, err := os.Stat(filepath.Join(sb, "dir", "inner.txt"))
					if extract && err != nil {
						t.Errorf("not extracted: %v", err)
					}
					if !extract && err == nil {
						t.Error("extracted although extract is false")
					}
					var want []string
					if cached {
						want = keysOf(uri)
						if got := readFile(t, c.path(cacheKey(uri))); got != string(tgz) {
							t.Error("the cache entry differs from the source")
						}
					}
					if diff := cmp.Diff(want, cacheDirNames(t, c)); diff != "" {
						t.Errorf("cache directory (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func TestFetchCacheHitSkipsTheServer(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/a.txt": []byte("alpha"), "/b.txt": []byte("beta")})
	c := testCache(t, 1<<20)
	f := fetcher{client: srv.Client(), cache: c}
	steps := []struct {
		path   string
		cached bool
		hits   int // requests for path after the step
	}{
		{"/a.txt", true, 1},
		{"/a.txt", true, 1},
		{"/a.txt", true, 1},
		{"/a.txt", false, 2}, // cache: false never uses the cache
		{"/b.txt", true, 1},
		{"/b.txt", true, 1},
	}
	for i, s := range steps {
		sb := newSandbox(t)
		u := mesosv1.CommandURI{Value: srv.URL + s.path, Cache: &s.cached}
		if err := f.fetchAll(t.Context(), []mesosv1.CommandURI{u}, sb, 0); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got, want := readFile(t, filepath.Join(sb, s.path)), string(srv.files[s.path]); got != want {
			t.Errorf("step %d: sandbox holds %q, want %q", i, got, want)
		}
		if got := srv.hitsOf(s.path); got != s.hits {
			t.Errorf("step %d: %d requests for %s, want %d", i, got, s.path, s.hits)
		}
	}
	if diff := cmp.Diff(keysOf(srv.URL+"/a.txt", srv.URL+"/b.txt"), cacheDirNames(t, c)); diff != "" {
		t.Errorf("cache directory (-want +got):\n%s", diff)
	}
}

// TestFetchCacheCopiesIntoEachSandbox checks that a task writing to its
// fetched file changes neither the cache nor another sandbox.
func TestFetchCacheCopiesIntoEachSandbox(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/conf": []byte("original")})
	c := testCache(t, 1<<20)
	f := fetcher{client: srv.Client(), cache: c}
	uris := []mesosv1.CommandURI{{Value: srv.URL + "/conf", Cache: ptr(true)}}
	sb1, sb2 := newSandbox(t), newSandbox(t)
	if err := f.fetchAll(t.Context(), uris, sb1, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb1, "conf"), []byte("changed by the task"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.fetchAll(t.Context(), uris, sb2, 0); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb2, "conf")); got != "original" {
		t.Errorf("second sandbox holds %q", got)
	}
	if got := readFile(t, c.path(cacheKey(srv.URL+"/conf"))); got != "original" {
		t.Errorf("cache entry holds %q", got)
	}
}

// roundTripFunc is an in-process http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// gatedClient answers every request with body once release is closed, or
// fails it when its context ends first; calls counts the requests.
func gatedClient(body string, release <-chan struct{}, calls *int, mu *sync.Mutex) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		*calls++
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})}
}

func TestFetchCacheConcurrentFetchesShareOneDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		release := make(chan struct{})
		c := testCache(t, 1<<20)
		f := fetcher{client: gatedClient("shared", release, &calls, &mu), cache: c}
		const uri = "http://artifacts.test/shared.txt"
		const n = 8
		sandboxes := make([]string, n)
		errs := make(chan error, n)
		for i := range n {
			sandboxes[i] = newSandbox(t)
			go func() {
				errs <- f.fetchAll(t.Context(), []mesosv1.CommandURI{{Value: uri, Cache: ptr(true)}}, sandboxes[i], 0)
			}()
		}
		synctest.Wait() // every fetch now waits for the download
		mu.Lock()
		if calls != 1 {
			t.Errorf("%d downloads started, want 1", calls)
		}
		mu.Unlock()
		c.mu.Lock()
		if fl := c.flights[cacheKey(uri)]; fl == nil || fl.waiting != n {
			t.Errorf("flight = %+v, want %d waiting", fl, n)
		}
		c.mu.Unlock()
		close(release)
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, sb := range sandboxes {
			if got := readFile(t, filepath.Join(sb, "shared.txt")); got != "shared" {
				t.Errorf("%s holds %q", sb, got)
			}
		}
		mu.Lock()
		if calls != 1 {
			t.Errorf("%d downloads, want 1", calls)
		}
		mu.Unlock()
		c.mu.Lock()
		if len(c.flights) != 0 {
			t.Errorf("flights left: %v", c.flights)
		}
		c.mu.Unlock()
	})
}

// TestFetchCacheWaitersCancel checks that a download survives the caller
// that started it while others wait, and stops when the last one leaves.
func TestFetchCacheWaitersCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		release := make(chan struct{})
		c := testCache(t, 1<<20)
		client := gatedClient("payload", release, &calls, &mu)
		const uri = "http://artifacts.test/p"

		// The first caller starts the download and gives up; the second
		// still gets the content.
		ctx1, cancel1 := context.WithCancel(t.Context())
		errs := make(chan error, 2)
		go func() {
			f, err := c.open(ctx1, client, uri)
			if err == nil {
				f.Close()
			}
			errs <- err
		}()
		synctest.Wait()
		got := make(chan string, 1)
		go func() {
			f, err := c.open(t.Context(), client, uri)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			b, err := io.ReadAll(f)
			errs <- err
			got <- string(b)
		}()
		synctest.Wait()
		cancel1()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("first caller: %v, want context.Canceled", err)
		}
		close(release)
		if err := <-errs; err != nil {
			t.Fatalf("second caller: %v", err)
		}
		if s := <-got; s != "payload" {
			t.Errorf("second caller read %q", s)
		}

		// When every caller leaves, the download stops and leaves nothing.
		uri2 := "http://artifacts.test/q"
		release2 := make(chan struct{}) // never closed
		client2 := gatedClient("never", release2, &calls, &mu)
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() { _, err := c.open(ctx2, client2, uri2); errs <- err }()
		synctest.Wait()
		cancel2()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("lone caller: %v", err)
		}
		synctest.Wait() // the download goroutine ends
		if diff := cmp.Diff(keysOf(uri), cacheDirNames(t, c)); diff != "" {
			t.Errorf("cache directory (-want +got):\n%s", diff)
		}
		c.mu.Lock()
		if len(c.flights) != 0 {
			t.Errorf("flights left: %v", c.flights)
		}
		c.mu.Unlock()
	})
}

func TestFetchCacheEvictsLeastRecentlyUsed(t *testing.T) {
	body := func(b byte) []byte { return bytes.Repeat([]byte{b}, 40) }
	srv := newFileServer(t, map[string][]byte{"/a": body('a'), "/b": body('b'), "/c": body('c'), "/d": body('d')})
	c := testCache(t, 100) // two 40-byte entries fit, three do not
	f := fetcher{client: srv.Client(), cache: c}
	url := func(p string) string { return srv.URL + p }
	steps := []struct {
		path    string
		hits    int      // requests for path after the step
		entries []string // paths cached after the step
	}{
		{"/a", 1, []string{"/a"}},
		{"/b", 1, []string{"/a", "/b"}},
		{"/a", 1, []string{"/a", "/b"}}, // a hit makes a the most recent
		{"/c", 1, []string{"/a", "/c"}}, // evicts b, the least recent
		{"/b", 2, []string{"/b", "/c"}}, // b downloads again, evicts a
		{"/c", 1, []string{"/b", "/c"}}, // still cached
		{"/a", 2, []string{"/a", "/c"}}, // evicts b
		{"/d", 1, []string{"/a", "/d"}}, // evicts c
	}
	for i, s := range steps {
		sb := newSandbox(t)
		if err := f.fetchAll(t.Context(), []mesosv1.CommandURI{{Value: url(s.path), Cache: ptr(true)}}, sb, 0); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := srv.hitsOf(s.path); got != s.hits {
			t.Errorf("step %d: %d requests for %s, want %d", i, got, s.path, s.hits)
		}
		var want []string
		for _, p := range s.entries {
			want = append(want, url(p))
		}
		if diff := cmp.Diff(keysOf(want...), cacheDirNames(t, c)); diff != "" {
			t.Errorf("step %d: cache directory (-want +got):\n%s", i, diff)
		}
		if c.used != int64(40*len(s.entries)) || c.lru.Len() != len(s.entries) {
			t.Errorf("step %d: index holds %d entries of %d bytes", i, c.lru.Len(), c.used)
		}
	}
}

// TestFetchCacheLargerThanCache checks that a download too large for the
// whole cache is fetched directly and leaves no entry.
func TestFetchCacheLargerThanCache(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 1000)
	srv := newFileServer(t, map[string][]byte{"/big": big})
	c := testCache(t, 100)
	sb := newSandbox(t)
	if err := (fetcher{client: srv.Client(), cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{{Value: srv.URL + "/big", Cache: ptr(true)}}, sb, 0); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb, "big")); got != string(big) {
		t.Errorf("sandbox holds %d bytes, want %d", len(got), len(big))
	}
	if names := cacheDirNames(t, c); len(names) != 0 {
		t.Errorf("cache holds %v", names)
	}
}

func TestFetchCacheFailedDownloadLeavesNoEntry(t *testing.T) {
	truncated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("only part of it")) // the server drops the connection
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/truncated":
			truncated(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name, uri, wantErr string
	}{
		{"not found", srv.URL + "/none", "404"},
		{"truncated body", srv.URL + "/truncated", "EOF"},
		{"missing file", missing, "no such file"},
		{"missing file URL", "file://" + missing, "no such file"},
		{"unsupported scheme", "ftp://host/x", "unsupported URI scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCache(t, 1<<20)
			sb := newSandbox(t)
			err := (fetcher{client: srv.Client(), cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{{Value: tc.uri, Cache: ptr(true)}}, sb, 0)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("fetch = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if names := cacheDirNames(t, c); len(names) != 0 {
				t.Errorf("cache directory holds %v", names)
			}
			if c.lru.Len() != 0 || len(c.entries) != 0 || c.used != 0 || len(c.flights) != 0 {
				t.Errorf("index not empty: %d entries, %d bytes, %d flights", c.lru.Len(), c.used, len(c.flights))
			}
			if des, _ := os.ReadDir(sb); len(des) != 0 {
				t.Errorf("sandbox holds %d files", len(des))
			}
		})
	}

	// A failure is not remembered: the next fetch downloads again.
	srv2 := newFileServer(t, map[string][]byte{})
	c := testCache(t, 1<<20)
	f := fetcher{client: srv2.Client(), cache: c}
	uris := []mesosv1.CommandURI{{Value: srv2.URL + "/later", Cache: ptr(true)}}
	if err := f.fetchAll(t.Context(), uris, newSandbox(t), 0); err == nil {
		t.Fatal("fetching a missing file succeeded")
	}
	srv2.set("/later", []byte("here now"))
	sb := newSandbox(t)
	if err := f.fetchAll(t.Context(), uris, sb, 0); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb, "later")); got != "here now" {
		t.Errorf("sandbox holds %q", got)
	}
}

// TestFetchCacheClearsPreviousRun checks that the first use removes a
// previous run's entries and downloads, and nothing else.
func TestFetchCacheClearsPreviousRun(t *testing.T) {
	c := testCache(t, 1<<20)
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src.txt")
	for name, content := range map[string]string{
		cacheKey("http://old/entry"): "old",
		cacheKey(src):                "stale content of src",
		cacheTempPrefix + "123":      "partial",
		"not-ours.txt":               "keep",
	} {
		if err := os.WriteFile(filepath.Join(c.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(src, []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t)
	if err := (fetcher{client: http.DefaultClient, cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{{Value: src, Cache: ptr(true)}}, sb, 0); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb, "src.txt")); got != "fresh" {
		t.Errorf("sandbox holds %q", got)
	}
	want := append(keysOf(src), "not-ours.txt")
	slices.Sort(want)
	if diff := cmp.Diff(want, cacheDirNames(t, c)); diff != "" {
		t.Errorf("cache directory (-want +got):\n%s", diff)
	}
}

func TestFetchOutputFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src", "tool.sh")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		output string
		want   string // path in the sandbox; "" if rejected
	}{
		{"", "tool.sh"},
		{"tool", "tool"},
		{"./tool", "tool"},
		{"bin/tools/tool", "bin/tools/tool"},
		{"../tool", ""},
		{"..", ""},
		{"a/../../tool", ""},
		{"a/../tool", ""}, // stays inside, but ".." is refused outright
		{"bin/..", ""},
		{"/etc/tool", ""},
		{"/", ""},
		{".", ""},
	} {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%q/cache=%v", tc.output, cached), func(t *testing.T) {
				c := testCache(t, 1<<20)
				sb := filepath.Join(dir, "sandbox")
				if err := os.Mkdir(sb, 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(sb)
				u := mesosv1.CommandURI{Value: src, OutputFile: tc.output, Cache: &cached}
				err := (fetcher{client: http.DefaultClient, cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{u}, sb, 0)
				if tc.want == "" {
					if err == nil {
						t.Fatal("fetch succeeded")
					}
					if des, _ := os.ReadDir(sb); len(des) != 0 {
						t.Errorf("sandbox holds %d files", len(des))
					}
				} else if err != nil {
					t.Fatal(err)
				} else if got := readFile(t, filepath.Join(sb, tc.want)); got != "#!/bin/sh\n" {
					t.Errorf("%s holds %q", tc.want, got)
				}
				des, _ := os.ReadDir(dir)
				var names []string
				for _, de := range des {
					names = append(names, de.Name())
				}
				if diff := cmp.Diff([]string{"sandbox", "src"}, names); diff != "" {
					t.Errorf("files beside the sandbox (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestFetchExecutable(t *testing.T) {
	tgz := tarGz(t)
	srv := newFileServer(t, map[string][]byte{"/run.sh": []byte("#!/bin/sh\necho hi\n"), "/bundle.tar.gz": tgz})
	for _, tc := range []struct {
		path       string
		executable *bool
		wantMode   fs.FileMode
	}{
		{"/run.sh", ptr(true), 0o755},
		{"/run.sh", ptr(false), 0o644},
		{"/run.sh", nil, 0o644},
		{"/bundle.tar.gz", ptr(true), 0o755}, // executable: made executable, not extracted
	} {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/executable=%v/cache=%v", tc.path, tc.executable != nil && *tc.executable, cached), func(t *testing.T) {
				c := testCache(t, 1<<20)
				sb := newSandbox(t)
				u := mesosv1.CommandURI{Value: srv.URL + tc.path, Executable: tc.executable, Cache: &cached}
				if err := (fetcher{client: srv.Client(), cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{u}, sb, 0); err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(filepath.Join(sb, filepath.Base(tc.path)))
				if err != nil {
					t.Fatal(err)
				}
				// Without executable the mode is 0644 less the umask.
				if got := st.Mode().Perm(); got != tc.wantMode && !(tc.wantMode == 0o644 && got&0o111 == 0 && got&0o400 != 0) {
					t.Errorf("mode %v, want %v", got, tc.wantMode)
				}
				if _, err := os.Stat(filepath.Join(sb, "dir")); err == nil {
					t.Error("an executable archive was extracted")
				}
			})
		}
	}
}

// TestFetchBudget checks that the task's budget bounds a cached copy too.
func TestFetchBudget(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/f": bytes.Repeat([]byte("b"), 200)})
	for _, cached := range []bool{false, true} {
		c := testCache(t, 1<<20)
		err := (fetcher{client: srv.Client(), cache: c}).fetchAll(t.Context(), []mesosv1.CommandURI{{Value: srv.URL + "/f", Cache: &cached}}, newSandbox(t), 100)
		if err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
			t.Errorf("cache=%v: fetch = %v, want the budget exceeded", cached, err)
		}
	}
}

func TestFetcherCacheConfig(t *testing.T) {
	cfg := DefaultConfig()
	fields, err := config.Fields(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	for _, f := range fields {
		defaults[f.Flag] = f.Default
	}
	if d, ok := defaults["fetcher-cache-dir"]; !ok || d != "" {
		t.Errorf("--fetcher-cache-dir: present %v, default %q", ok, d)
	}
	if d := defaults["fetcher-cache-size"]; d != "2147483648" {
		t.Errorf("--fetcher-cache-size default %q, want 2 GiB", d)
	}
	cfg.FetcherCache.Size = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "fetcher cache size") {
		t.Errorf("Validate() = %v, want a complaint about the fetcher cache size", err)
	}
	if c := newFetchCache(FetcherCacheConfig{Size: 0}, "/w", nil); c != nil {
		t.Error("size 0 made a cache")
	}
	if c := newFetchCache(FetcherCacheConfig{Size: 1}, "/w", nil); c == nil || c.dir != "/w/fetcher-cache" {
		t.Errorf("default cache dir = %+v", c)
	}
	if c := newFetchCache(FetcherCacheConfig{Dir: "/elsewhere", Size: 1}, "/w", nil); c == nil || c.dir != "/elsewhere" {
		t.Errorf("configured cache dir = %+v", c)
	}
}

// BenchmarkFetchCached measures fetching a cached 8 MiB file into a fresh
// sandbox (the copy out of the cache; the download happens once, before).
func BenchmarkFetchCached(b *testing.B) {
	const size = 8 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	srv := newFileServer(b, map[string][]byte{"/blob.bin": payload})
	c := testCache(b, 1<<30)
	f := fetcher{client: srv.Client(), cache: c}
	uris := []mesosv1.CommandURI{{Value: srv.URL + "/blob.bin", Cache: ptr(true)}}
	base := b.TempDir()
	if err := f.fetchAll(b.Context(), uris, newSandbox(b), 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		sb := filepath.Join(base, fmt.Sprint(i))
		i++
		if err := os.Mkdir(sb, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := f.fetchAll(b.Context(), uris, sb, 0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(sb); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if n := srv.hitsOf("/blob.bin"); n != 1 {
		b.Fatalf("%d downloads, want 1", n)
	}
}
