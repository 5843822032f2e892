package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteouts of the OCI/Docker layer format: ".wh.<name>" deletes <name> of
// the layers below; ".wh..wh..opq" in a directory hides everything the
// layers below have in it. Layers are extracted once and used as overlayfs
// lower directories, so they are written in overlayfs' own terms: a
// character device 0/0 for a deleted name and the trusted.overlay.opaque
// attribute for an opaque directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// ErrUnsafeLayer is wrapped by Extract's errors for a layer that tries to
// write outside its directory.
var ErrUnsafeLayer = errors.New("unsafe layer")

// entryName turns a tar entry name into a clean path relative to the
// layer's root, "" for the root itself. Leading slashes are dropped (some
// tools write absolute names); a ".." element is refused.
func entryName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry name with a NUL byte", ErrUnsafeLayer)
	}
	for el := range strings.SplitSeq(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: entry %q leaves the layer", ErrUnsafeLayer, name)
		}
	}
	p := path.Clean("/" + name)[1:]
	return p, nil
}

// dirMeta is applied to directories after everything was written into them
// (a read-only directory would stop its own contents from being written).
type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

// Extract writes the layer tar read from r into dir, which must exist.
//
// Every write goes through an os.Root on dir, so neither ".." entries nor
// symlinks (including absolute ones and those created earlier by the same
// layer) can make it touch anything outside dir: such entries fail the
// extraction with ErrUnsafeLayer or a path error. Device nodes and FIFOs are
// skipped (a container gets its own minimal /dev). Owners are kept when the
// process is root. Whiteouts become overlayfs whiteouts (see above), which
// needs root.
func Extract(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract layer: %w", err)
	}
	defer root.Close()
	x := extractor{root: root, chown: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("extract layer: read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract layer: %s: %w", hdr.Name, err)
		}
	}
	// Deepest first, so a parent's mtime is set after its children.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := root.Chmod(nameOrDot(d.name), d.mode); err != nil {
			return fmt.Errorf("extract layer: %s: %w", d.name, err)
		}
		_ = root.Chtimes(nameOrDot(d.name), d.mtime, d.mtime)
	}
	return nil
}

type extractor struct {
	root  *os.Root
	chown bool
	dirs  []dirMeta
}

func nameOrDot(n string) string {
	if n == "" {
		return "."
	}
	return n
}

// perm is the part of a tar mode that chmod takes.
func perm(hdr *tar.Header) fs.FileMode {
	m := fs.FileMode(hdr.Mode) & fs.ModePerm
	if hdr.Mode&04000 != 0 {
		m |= fs.ModeSetuid
	}
	if hdr.Mode&02000 != 0 {
		m |= fs.ModeSetgid
	}
	if hdr.Mode&01000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}
	if name == "" {
		if hdr.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, dirMeta{name: "", mode: perm(hdr), mtime: hdr.ModTime})
		}
		return nil
	}
	if dir != "" {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
			if err := x.root.Remove(name); err != nil {
				return err
			}
		}
		if err := x.root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		x.dirs = append(x.dirs, dirMeta{name: name, mode: perm(hdr), mtime: hdr.ModTime})
	case tar.TypeReg: // the reader turns the old TypeRegA into TypeReg
		if isSparse(hdr) {
			// Holes cost nothing in the tar but are written out in full:
			// a few bytes could fill the disk. Image builders do not
			// write sparse entries.
			return fmt.Errorf("%w: sparse files are not supported", ErrUnsafeLayer)
		}
		if err := x.replace(name); err != nil {
			return err
		}
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := x.root.Chmod(name, perm(hdr)); err != nil {
			return err
		}
		_ = x.root.Chtimes(name, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if err := x.replace(name); err != nil {
			return err
		}
		// The target is only stored: it is resolved later, inside the
		// container's root.
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil {
			return err
		}
		if target == "" {
			return fmt.Errorf("%w: hard link to the layer's root", ErrUnsafeLayer)
		}
		if err := x.replace(name); err != nil {
			return err
		}
		// The link shares its target's inode, owner included.
		return x.root.Link(target, name)
	case tar.TypeGNUSparse:
		return fmt.Errorf("%w: sparse files are not supported", ErrUnsafeLayer)
	default:
		// Device nodes, FIFOs and unknown kinds: skipped.
		return nil
	}
	if x.chown {
		if err := x.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	return nil
}

// isSparse reports a PAX sparse file (GNU tar's formats 0.x and 1.0).
func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// replace removes what a non-directory entry is about to replace.
func (x *extractor) replace(name string) error {
	if _, err := x.root.Lstat(name); err == nil {
		return x.root.RemoveAll(name)
	}
	return nil
}

// whiteout records a deletion (".wh.<name>") or an opaque directory.
func (x *extractor) whiteout(dir, base string) error {
	if dir != "" {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	d, err := x.root.Open(nameOrDot(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	if base == whiteoutOpaque {
		if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark %s opaque: %w", nameOrDot(dir), err)
		}
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("%w: bad whiteout %q", ErrUnsafeLayer, base)
	}
	if err := x.replace(path.Join(dir, target)); err != nil {
		return err
	}
	if err := unix.Mknodat(fd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s: %w", path.Join(dir, target), err)
	}
	return nil
}
