package image

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ArchivePrefix marks an image name that is an image archive in the task's
// sandbox ("archive:images/app.tar"), fetched there with the task's URIs: a
// `docker save` tar or an OCI image layout tar. This is Basalt's own
// convention (Mesos has no image name for it); it needs no registry.
const ArchivePrefix = "archive:"

// Ref is a parsed image name: a registry reference or an archive.
type Ref struct {
	// Archive is the archive's path relative to the sandbox ("" for a
	// registry image).
	Archive string
	// Registry is the parsed registry reference (nil for an archive).
	Registry name.Reference
}

// String is the canonical form of the reference.
func (r Ref) String() string {
	if r.Registry == nil {
		return ArchivePrefix + r.Archive
	}
	return r.Registry.Name()
}

// ErrBadName is wrapped by ParseName's errors.
var ErrBadName = errors.New("invalid image name")

// ParseName parses an image name as tasks give it. A registry name without a
// host ("busybox:1", "team/app") is on defaultRegistry; insecure lists the
// registries (host[:port]) that may be reached over plain HTTP.
func ParseName(s, defaultRegistry string, insecure []string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty", ErrBadName)
	}
	if p, ok := strings.CutPrefix(s, ArchivePrefix); ok {
		clean, err := sandboxPath(p)
		if err != nil {
			return Ref{}, fmt.Errorf("%w %q: %w", ErrBadName, s, err)
		}
		return Ref{Archive: clean}, nil
	}
	opts := []name.Option{name.WithDefaultRegistry(registryHost(defaultRegistry))}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %w", ErrBadName, s, err)
	}
	for _, h := range insecure {
		if ref.Context().RegistryStr() == h {
			ref, err = name.ParseReference(s, append(opts, name.Insecure)...)
			if err != nil {
				return Ref{}, fmt.Errorf("%w %q: %w", ErrBadName, s, err)
			}
			break
		}
	}
	return Ref{Registry: ref}, nil
}

// registryHost maps the names of Docker Hub to the one go-containerregistry
// knows (it adds "library/" to official images only for that one).
func registryHost(r string) string {
	switch r {
	case "", "docker.io", "registry-1.docker.io", "index.docker.io":
		return name.DefaultRegistry
	}
	return r
}

// sandboxPath checks a path relative to a sandbox: not absolute, no "..".
func sandboxPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q must be relative to the sandbox", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", errors.New("path with a NUL byte")
	}
	for el := range strings.SplitSeq(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("path %q must not contain a \"..\" element", p)
		}
	}
	c := path.Clean(p)
	if c == "." {
		return "", fmt.Errorf("path %q names the sandbox itself", p)
	}
	return c, nil
}
