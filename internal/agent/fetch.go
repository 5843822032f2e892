package agent

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// The fetcher downloads CommandInfo.uris into a task's sandbox before the
// task starts, as the Mesos fetcher does: http(s) URLs, file:// URLs and
// absolute paths; archives (.tar, .tar.gz, .tgz, .tar.bz2, .zip, .gz) are
// extracted into the sandbox unless extract is false; executable files are
// made executable (0755) and never extracted; output_file renames the
// download and may name a subdirectory of the sandbox, never a path out of
// it. A URI with cache: true is downloaded once into the agent-wide fetcher
// cache (fetch_cache.go) and copied from there into each sandbox.
// Extraction goes through os.Root, so no archive entry can land outside the
// sandbox, through ".." or a symlink.

// maxFetchBytes bounds one download.
const maxFetchBytes = 8 << 30

// fetcher fetches URIs into sandboxes.
type fetcher struct {
	client *http.Client
	// cache holds the downloads of URIs with cache: true; nil fetches
	// them directly, like any other URI.
	cache *fetchCache
}

// fetchAll fetches every URI into sandbox without a cache (cache: true
// is ignored), stopping at the first failure. See fetcher.fetchAll.
func fetchAll(ctx context.Context, client *http.Client, uris []mesosv1.CommandURI, sandbox string, budget int64) error {
	return fetcher{client: client}.fetchAll(ctx, uris, sandbox, budget)
}

// fetchAll fetches every URI into sandbox, stopping at the first failure.
// budget bounds the bytes one download or one archive's contents may take
// (a tiny archive can hold gigabytes of sparse or compressed zeros);
// 0 means maxFetchBytes.
func (f fetcher) fetchAll(ctx context.Context, uris []mesosv1.CommandURI, sandbox string, budget int64) error {
	if budget <= 0 || budget > maxFetchBytes {
		budget = maxFetchBytes
	}
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		return fmt.Errorf("open sandbox: %w", err)
	}
	defer root.Close()
	for _, u := range uris {
		if err := f.fetchOne(ctx, u, root, budget); err != nil {
			return fmt.Errorf("%s: %w", u.Value, err)
		}
	}
	return nil
}

func (f fetcher) fetchOne(ctx context.Context, u mesosv1.CommandURI, root *os.Root, budget int64) error {
	name, err := fetchName(u)
	if err != nil {
		return err
	}
	src, err := f.open(ctx, u)
	if err != nil {
		return err
	}
	defer src.Close()
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory of %s: %w", name, err)
		}
	}
	dst, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	// From a cache entry (an *os.File) this copies in the kernel.
	n, err := io.Copy(dst, io.LimitReader(src, budget+1))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if n > budget {
		return fmt.Errorf("download larger than %d bytes", budget)
	}
	if u.Executable != nil && *u.Executable {
		return root.Chmod(name, 0o755)
	}
	if u.Extract != nil && !*u.Extract {
		return nil
	}
	kind := archiveKind(name)
	if kind == "" {
		return nil
	}
	a, err := root.Open(name)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := extract(kind, a, root, strings.TrimSuffix(name, ".gz"), budget); err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	return nil
}

// open opens the content of u: from the cache when u asks for it and the
// agent has one, else straight from its source.
func (f fetcher) open(ctx context.Context, u mesosv1.CommandURI) (io.ReadCloser, error) {
	if u.Cache != nil && *u.Cache && f.cache != nil {
		r, err := f.cache.open(ctx, f.client, u.Value)
		if !errors.Is(err, errNotCacheable) {
			return r, err
		}
		// Larger than the whole cache: Mesos fetches such a URI
		// directly, and so do we.
	}
	return openURI(ctx, f.client, u.Value)
}

// fetchName is the file name a URI is saved under in the sandbox: its
// output_file, a path relative to the sandbox without "..", else the last
// element of the URI's path.
func fetchName(u mesosv1.CommandURI) (string, error) {
	name := u.OutputFile
	if name != "" {
		if filepath.IsAbs(name) || slices.Contains(strings.Split(filepath.ToSlash(name), "/"), "..") {
			return "", fmt.Errorf("output_file %q must be a path inside the sandbox, without \"..\"", u.OutputFile)
		}
	} else {
		p := u.Value
		if pu, err := url.Parse(u.Value); err == nil && pu.Scheme != "" {
			p = pu.Path
		}
		name = path.Base(p)
	}
	name = filepath.Clean(name)
	if name == "." || !filepath.IsLocal(name) {
		return "", fmt.Errorf("cannot derive a file name in the sandbox (output_file %q)", u.OutputFile)
	}
	return name, nil
}

// openURI opens a URI for reading.
func openURI(ctx context.Context, client *http.Client, raw string) (io.ReadCloser, error) {
	if strings.HasPrefix(raw, "/") {
		return os.Open(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse URI: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URI with host %q is not local", u.Host)
		}
		return os.Open(u.Path)
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("HTTP %s", resp.Status)
		}
		return resp.Body, nil
	default:
		return nil, fmt.Errorf("unsupported URI scheme %q (supported: http, https, file, absolute paths)", u.Scheme)
	}
}

// archiveKind says how to extract a file by its name, "" if it is no archive.
func archiveKind(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return "tgz"
	case strings.HasSuffix(n, ".tar.bz2"), strings.HasSuffix(n, ".tbz2"):
		return "tbz2"
	case strings.HasSuffix(n, ".tar"):
		return "tar"
	case strings.HasSuffix(n, ".zip"):
		return "zip"
	case strings.HasSuffix(n, ".gz"):
		return "gz"
	}
	return ""
}

// errTooBig is returned when an archive expands beyond its budget.
var errTooBig = errors.New("archive contents exceed the size limit")

// extractor writes archive entries into a root within a byte budget.
type extractor struct {
	root *os.Root
	left int64
}

// extract unpacks archive f of kind into root, writing at most budget
// bytes. gzName is where a plain .gz file is decompressed to.
func extract(kind string, f *os.File, root *os.Root, gzName string, budget int64) error {
	x := &extractor{root: root, left: budget}
	switch kind {
	case "tar":
		return x.untar(f)
	case "tgz":
		z, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer z.Close()
		return x.untar(z)
	case "tbz2":
		return x.untar(bzip2.NewReader(f))
	case "gz":
		z, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer z.Close()
		return x.write(gzName, z, 0o644)
	case "zip":
		st, err := f.Stat()
		if err != nil {
			return err
		}
		return x.unzip(f, st.Size())
	}
	return fmt.Errorf("unknown archive kind %q", kind)
}

// entryName validates an archive entry name: relative, without "..".
func entryName(name string) (string, error) {
	name = strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if name == "" {
		return ".", nil
	}
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("invalid entry name %q", name)
	}
	return name, nil
}

// write creates name from r, charging its size to the budget.
func (x *extractor) write(name string, r io.Reader, mode fs.FileMode) error {
	if dir := filepath.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm()|0o200)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, x.left+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	x.left -= n
	if err == nil && x.left < 0 {
		err = errTooBig
	}
	return err
}

func (x *extractor) untar(r io.Reader) error {
	root := x.root
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := root.MkdirAll(name, 0o755); err != nil {
					return err
				}
			}
		case tar.TypeReg:
			if err := x.write(name, tr, fs.FileMode(h.Mode)); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if dir := filepath.Dir(name); dir != "." {
				if err := root.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			_ = root.Remove(name)
			// The link may point anywhere; os.Root refuses to follow it
			// outside the sandbox when later entries are written.
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
		default:
			// Hard links, devices and fifos are skipped.
		}
	}
}

func (x *extractor) unzip(r io.ReaderAt, size int64) error {
	root := x.root
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return err
	}
	for _, zf := range zr.File {
		name, err := entryName(zf.Name)
		if err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			if name != "." {
				if err := root.MkdirAll(name, 0o755); err != nil {
					return err
				}
			}
			continue
		}
		if !zf.Mode().IsRegular() {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		err = x.write(name, rc, zf.Mode())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
