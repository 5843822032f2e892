package files

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// FileInfo is one entry of /files/browse, as Mesos renders it: mtime in
// seconds, mode as ls prints it, uid and gid as user and group names.
type FileInfo struct {
	Path  string `json:"path"`
	Nlink uint64 `json:"nlink"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Mode  string `json:"mode"`
	UID   string `json:"uid"`
	GID   string `json:"gid"`
}

// ReadResult is the body of /files/read.
type ReadResult struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// fail writes the error reply for err: 400 for bad input, 404 for a path
// that is not attached or does not exist, 500 otherwise (logged).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrBadPath), errors.Is(err, errBadParam):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, "No file or directory found at path", http.StatusNotFound)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "Permission denied", http.StatusForbidden)
	default:
		h.log.Warn("files request failed", "path", r.URL.Path, "error", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
	}
}

var errBadParam = errors.New("bad query parameter")

func badParam(msg string) error { return &paramError{msg} }

type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }
func (e *paramError) Unwrap() error { return errBadParam }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// pathParam returns the resolved target of the "path" query parameter.
func (h *Handler) pathParam(r *http.Request) (*target, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return nil, badParam("Expecting 'path' in query")
	}
	t, err := h.resolve(p)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (h *Handler) browse(w http.ResponseWriter, r *http.Request) {
	t, err := h.pathParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer t.close()
	fi, err := t.stat()
	if err != nil {
		h.fail(w, r, notFound(err))
		return
	}
	names := newNameCache()
	if !fi.IsDir() {
		writeJSON(w, []FileInfo{names.info(t.virtual, fi)})
		return
	}
	d, err := t.open()
	if err != nil {
		h.fail(w, r, notFound(err))
		return
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	out := make([]FileInfo, 0, len(ents))
	for _, e := range ents {
		rel := path.Join(t.rel, e.Name())
		// Follow symlinks that stay inside the root; show the link itself
		// when it leads outside or nowhere.
		efi, err := t.root.Stat(rel)
		if err != nil {
			if efi, err = t.root.Lstat(rel); err != nil {
				continue // removed meanwhile
			}
		}
		out = append(out, names.info(path.Join(t.virtual, e.Name()), efi))
	}
	writeJSON(w, out)
}

// notFound maps errors of opening a path inside a root (including "path
// escapes from parent") to fs.ErrNotExist, keeping permission errors.
func notFound(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return err
	}
	return fs.ErrNotExist
}

func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, length := int64(-1), int64(-1)
	if s := q.Get("offset"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < -1 {
			h.fail(w, r, badParam("Failed to parse offset: "+strconv.Quote(s)))
			return
		}
		offset = v
	}
	if s := q.Get("length"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < -1 {
			h.fail(w, r, badParam("Failed to parse length: "+strconv.Quote(s)))
			return
		}
		length = v
	}
	t, f, fi, err := h.openFile(r, "read")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer t.close()
	defer f.Close()
	size := fi.Size()
	if offset == -1 {
		writeJSON(w, ReadResult{Offset: size})
		return
	}
	if offset > size {
		offset = size
	}
	if length == -1 || length > ReadCap {
		length = ReadCap
	}
	buf := make([]byte, length)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, ReadResult{Data: string(buf[:n]), Offset: offset})
}

// openFile resolves the request's path parameter and opens it as a file
// (not a directory) for verb ("read", "download"). On success the caller
// closes both the target and the file.
func (h *Handler) openFile(r *http.Request, verb string) (*target, *os.File, fs.FileInfo, error) {
	t, err := h.pathParam(r)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := t.open()
	if err != nil {
		t.close()
		return nil, nil, nil, notFound(err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = badParam("Cannot " + verb + " a directory")
	}
	if err != nil {
		f.Close()
		t.close()
		return nil, nil, nil, err
	}
	return t, f, fi, nil
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	t, f, fi, err := h.openFile(r, "download")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer t.close()
	defer f.Close()
	name := path.Base(t.virtual)
	ct := mime.TypeByExtension(filepath.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

func (h *Handler) debug(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, h.Attached())
}

// nameCache resolves uids and gids to names once per request.
type nameCache struct {
	users, groups map[uint32]string
}

func newNameCache() *nameCache {
	return &nameCache{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (c *nameCache) user(id uint32) string {
	if n, ok := c.users[id]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(id), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	c.users[id] = n
	return n
}

func (c *nameCache) group(id uint32) string {
	if n, ok := c.groups[id]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(id), 10)
	if g, err := user.LookupGroupId(n); err == nil {
		n = g.Name
	}
	c.groups[id] = n
	return n
}

func (c *nameCache) info(virtual string, fi fs.FileInfo) FileInfo {
	out := FileInfo{
		Path:  virtual,
		Size:  fi.Size(),
		Mtime: fi.ModTime().Unix(),
		Mode:  modeString(fi.Mode()),
		Nlink: 1,
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Nlink = uint64(st.Nlink)
		out.UID = c.user(st.Uid)
		out.GID = c.group(st.Gid)
	}
	return out
}

// modeString renders m as ls(1) does: "-rw-r--r--", "drwxr-xr-x",
// "lrwxrwxrwx", with s/S and t/T for setuid, setgid and sticky.
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	special := func(pos int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[pos] == 'x' {
			b[pos] = lower
		} else {
			b[pos] = upper
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
