// Package files serves the Mesos /files API (browse, read, download, debug)
// over directories and files that the agent attaches under virtual paths:
// each sandbox under its real path and under aliases such as
// /frameworks/<fid>/executors/<eid>/runs/latest.
//
// Only attached trees are reachable. Every access goes through an os.Root, so
// neither ".." nor a symlink can lead outside the attached directory, even
// if the tree changes between checks. It must not serve anything the agent
// did not attach, and it knows nothing of tasks or frameworks.
package files

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// ReadCap is the most bytes one /files/read returns: 16 pages, as Mesos.
const ReadCap = 16 * 4096

// Handler is the /files API. It implements http.Handler for the paths
// /files/{browse,read,download,debug} and their .json aliases. Attach and
// Detach may be called at any time, concurrently with requests.
type Handler struct {
	log *slog.Logger
	mux *http.ServeMux

	mu    sync.RWMutex
	roots map[string]string // clean virtual path -> real absolute path
}

// New returns a Handler with nothing attached.
func New(logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		log:   logger.With("component", "files"),
		roots: make(map[string]string),
	}
	h.mux = h.routes()
	return h
}

// ErrBadPath is returned for a virtual path that is not absolute, contains
// "..", or is otherwise unusable.
var ErrBadPath = errors.New("bad path")

// Attach makes realPath (a directory or a single file) reachable under
// virtualPath, replacing what was attached there.
func (h *Handler) Attach(virtualPath, realPath string) error {
	v, err := cleanVirtual(virtualPath)
	if err != nil {
		return fmt.Errorf("attach %q: %w", virtualPath, err)
	}
	if !filepath.IsAbs(realPath) {
		return fmt.Errorf("attach %q: real path %q is not absolute: %w", virtualPath, realPath, ErrBadPath)
	}
	h.mu.Lock()
	h.roots[v] = filepath.Clean(realPath)
	h.mu.Unlock()
	h.log.Debug("attached", "virtual_path", v, "path", realPath)
	return nil
}

// Detach removes what was attached at virtualPath (nothing if nothing was).
func (h *Handler) Detach(virtualPath string) {
	v, err := cleanVirtual(virtualPath)
	if err != nil {
		return
	}
	h.mu.Lock()
	delete(h.roots, v)
	h.mu.Unlock()
}

// Attached returns a copy of the virtual -> real map (what /files/debug shows).
func (h *Handler) Attached() map[string]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[string]string, len(h.roots))
	for k, v := range h.roots {
		out[k] = v
	}
	return out
}

// cleanVirtual normalises a requested path: absolute, no "." or ".."
// elements, no trailing slash, no NUL. ".." is refused rather than resolved,
// so a request names exactly what it reaches.
func cleanVirtual(p string) (string, error) {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return "", ErrBadPath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", ErrBadPath
		}
	}
	return path.Clean(p), nil
}

// target is a resolved virtual path.
type target struct {
	virtual string
	root    *os.Root // the attached directory; nil when a file is attached
	rel     string   // path inside root ("." for the root itself)
	file    string   // the attached file's real path when root is nil
}

func (t *target) close() {
	if t.root != nil {
		_ = t.root.Close()
	}
}

// stat returns the target's FileInfo, following symlinks that stay inside
// the attached directory.
func (t *target) stat() (fs.FileInfo, error) {
	if t.root == nil {
		return os.Stat(t.file)
	}
	return t.root.Stat(t.rel)
}

// open opens the target for reading.
func (t *target) open() (*os.File, error) {
	if t.root == nil {
		return os.Open(t.file)
	}
	return t.root.Open(t.rel)
}

// resolve maps a requested path onto the longest attached prefix. Errors
// match ErrBadPath (400) or fs.ErrNotExist (404).
func (h *Handler) resolve(p string) (*target, error) {
	v, err := cleanVirtual(p)
	if err != nil {
		return nil, err
	}
	h.mu.RLock()
	prefix, real := "", ""
	for cand := v; ; cand = path.Dir(cand) {
		if r, ok := h.roots[cand]; ok {
			prefix, real = cand, r
			break
		}
		if cand == "/" {
			break
		}
	}
	h.mu.RUnlock()
	if real == "" {
		return nil, fs.ErrNotExist
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(v, prefix), "/")
	if rel == "" {
		rel = "."
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	if !fi.IsDir() {
		if rel != "." {
			return nil, fs.ErrNotExist
		}
		return &target{virtual: v, file: real, rel: "."}, nil
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	return &target{virtual: v, root: root, rel: rel}, nil
}
