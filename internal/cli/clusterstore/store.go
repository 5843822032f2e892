// Package clusterstore keeps the clusters the basalt CLI knows, as dcos-cli
// keeps them under ~/.dcos: one directory per cluster,
// <base>/clusters/<cluster-id>/, holding cluster.toml (dcos.toml's keys:
// core.dcos_url, core.dcos_acs_token, core.ssl_verify, core.timeout,
// cluster.name, ...) and, for the one cluster in use, an empty "attached"
// file.
//
// Directories are created 0700 and files 0600, and every file is replaced
// atomically (write a temporary file, sync, rename). A cluster.toml that
// others may read or write is refused, because it holds a login token: the
// error says which chmod fixes it, as ssh does for private keys. Fixing the
// mode silently would hide that the token may have leaked.
//
// The package does files only: no HTTP, no flags, no printing.
package clusterstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/basalt-dcos/basalt/internal/secretfile"
)

// File names inside a cluster's directory.
const (
	ConfigFile   = "cluster.toml"
	AttachedFile = "attached"
)

// Keys of cluster.toml, named as in dcos-cli.
const (
	KeyURL       = "core.dcos_url"
	KeyToken     = "core.dcos_acs_token"
	KeySSLVerify = "core.ssl_verify" // "true", "false" or the path of a CA bundle
	KeyTimeout   = "core.timeout"    // seconds
	KeyMesosURL  = "core.mesos_master_url"
	KeyMarathon  = "marathon.url"
	KeyName      = "cluster.name"
)

// maxConfigBytes bounds a cluster.toml; a real one is under 4 KiB.
const maxConfigBytes = 1 << 20

// ErrNotFound: no cluster has that name or ID.
var ErrNotFound = errors.New("no such cluster")

// ErrNoneAttached: no cluster is attached.
var ErrNoneAttached = errors.New("no cluster is attached")

// InsecureFileError is a cluster.toml whose mode lets others read or write it.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("%s has mode %#o and holds a login token: others must not read it; run \"chmod 600 %s\" (and log in again if others could have read it)",
		e.Path, e.Mode.Perm(), e.Path)
}

// Store is the set of clusters under Dir/clusters.
type Store struct {
	Dir string // e.g. ~/.basalt
}

// Cluster is one stored cluster.
type Cluster struct {
	ID       string
	Config   *Config
	Attached bool
}

// Name is cluster.name, else the ID.
func (c *Cluster) Name() string {
	if n, ok := c.Config.Get(KeyName); ok && n != "" {
		return n
	}
	return c.ID
}

// URL is core.dcos_url.
func (c *Cluster) URL() string {
	u, _ := c.Config.Get(KeyURL)
	return u
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidID reports whether id can name a cluster directory: what DC/OS
// cluster IDs (UUIDs) look like, and nothing that could climb out of the
// store ("..", "/").
func ValidID(id string) bool { return idRE.MatchString(id) && !strings.Contains(id, "..") }

func (s Store) root() string { return filepath.Join(s.Dir, "clusters") }

// Path returns the directory of cluster id.
func (s Store) Path(id string) string { return filepath.Join(s.root(), id) }

// Get reads cluster id.
func (s Store) Get(id string) (*Cluster, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	dir := s.Path(id)
	path := filepath.Join(dir, ConfigFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureFileError{Path: path, Mode: fi.Mode()}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigBytes)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	_, err = os.Stat(filepath.Join(dir, AttachedFile))
	return &Cluster{ID: id, Config: cfg, Attached: err == nil}, nil
}

// List reads every cluster, sorted by name then ID. A cluster that cannot
// be read is reported in the joined error, and the others are returned.
func (s Store) List() ([]*Cluster, error) {
	entries, err := os.ReadDir(s.root())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var (
		out  []*Cluster
		errs []error
	)
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		c, err := s.Get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // a directory without a config: not a cluster
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name() != out[j].Name() {
			return out[i].Name() < out[j].Name()
		}
		return out[i].ID < out[j].ID
	})
	return out, errors.Join(errs...)
}

// IDs returns the IDs of every cluster directory, readable or not.
func (s Store) IDs() ([]string, error) {
	entries, err := os.ReadDir(s.root())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && ValidID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Find returns the cluster whose ID or name is ref; a unique prefix of an ID
// also works. A name shared by several clusters is an error that lists them.
func (s Store) Find(ref string) (*Cluster, error) {
	all, listErr := s.List()
	var byName, byPrefix []*Cluster
	for _, c := range all {
		if c.ID == ref {
			return c, nil
		}
		if c.Name() == ref {
			byName = append(byName, c)
		}
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	for _, m := range [][]*Cluster{byName, byPrefix} {
		switch len(m) {
		case 0:
			continue
		case 1:
			return m[0], nil
		}
		ids := make([]string, len(m))
		for i, c := range m {
			ids[i] = c.ID
		}
		return nil, fmt.Errorf("%q names %d clusters (%s): use the cluster ID", ref, len(m), strings.Join(ids, ", "))
	}
	if listErr != nil {
		return nil, fmt.Errorf("cluster %q: %w (and %w)", ref, ErrNotFound, listErr)
	}
	return nil, fmt.Errorf("cluster %q: %w", ref, ErrNotFound)
}

// Attached returns the attached cluster, or ErrNoneAttached.
func (s Store) Attached() (*Cluster, error) {
	entries, err := os.ReadDir(s.root())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Path(e.Name()), AttachedFile)); err == nil {
			return s.Get(e.Name())
		}
	}
	return nil, ErrNoneAttached
}

// Save writes c's cluster.toml, creating its directory.
func (s Store) Save(c *Cluster) error {
	if !ValidID(c.ID) {
		return fmt.Errorf("cluster ID %q: want letters, digits, '.', '_' or '-'", c.ID)
	}
	return s.WriteFile(c.ID, ConfigFile, c.Config.Encode())
}

// WriteFile atomically writes a file (0600) into cluster id's directory,
// creating the directories (0700).
func (s Store) WriteFile(id, name string, data []byte) error {
	if !ValidID(id) || name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("write %q of cluster %q: invalid name", name, id)
	}
	return secretfile.Write(filepath.Join(s.Path(id), name), data)
}

// Attach makes cluster id the attached one. Other markers are removed
// first, so a crash in between leaves no cluster attached rather than two.
func (s Store) Attach(id string) error {
	if _, err := s.Get(id); err != nil {
		return err
	}
	if err := s.detachAll(); err != nil {
		return err
	}
	return s.WriteFile(id, AttachedFile, nil)
}

func (s Store) detachAll() error {
	entries, err := os.ReadDir(s.root())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		err := os.Remove(filepath.Join(s.Path(e.Name()), AttachedFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Remove deletes cluster id's directory, token and all.
func (s Store) Remove(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	if _, err := os.Stat(s.Path(id)); err != nil {
		return fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	return os.RemoveAll(s.Path(id))
}
