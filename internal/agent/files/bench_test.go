package files_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/agent/files"
)

func benchHandler(b *testing.B) *files.Handler {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte(strings.Repeat("log line\n", 100000)), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	h := files.New(nil)
	for i := range 1000 { // an agent with many attached sandboxes
		_ = h.Attach("/frameworks/f/executors/e"+strconv.Itoa(i)+"/runs/latest", dir)
	}
	return h
}

func serve(b *testing.B, h http.Handler, target string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d", target, rec.Code)
	}
}

// BenchmarkRead64K is one full-size /files/read page (64 KiB).
func BenchmarkRead64K(b *testing.B) {
	h := benchHandler(b)
	target := "/files/read?" + url.Values{"path": {"/frameworks/f/executors/e500/runs/latest/stdout"}, "offset": {"4096"}}.Encode()
	b.SetBytes(files.ReadCap)
	for b.Loop() {
		serve(b, h, target)
	}
}

// BenchmarkBrowse100 lists a sandbox of 101 entries.
func BenchmarkBrowse100(b *testing.B) {
	h := benchHandler(b)
	target := "/files/browse?" + url.Values{"path": {"/frameworks/f/executors/e500/runs/latest"}}.Encode()
	for b.Loop() {
		serve(b, h, target)
	}
}
