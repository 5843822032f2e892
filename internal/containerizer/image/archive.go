package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fromArchive loads an image from an archive in the sandbox: a `docker
// save` tar (manifest.json at its top) or a tar of an OCI image layout
// (oci-layout and index.json). Its layers join the shared cache.
func (s *Store) fromArchive(ctx context.Context, ref Ref, sandbox string) (Image, error) {
	if sandbox == "" {
		return Image{}, fmt.Errorf("%w: no sandbox to find %s in", ErrBadArchive, ref.Archive)
	}
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		return Image{}, fmt.Errorf("image archive: %w", err)
	}
	defer root.Close()
	// Through the root: a symlink in the sandbox cannot make the agent read
	// a file outside it.
	open := func() (io.ReadCloser, error) { return root.Open(ref.Archive) }
	kind, err := archiveKind(open)
	if err != nil {
		return Image{}, fmt.Errorf("%w %s (fetch a `docker save` or OCI layout .tar into the sandbox): %w", ErrBadArchive, ref.Archive, err)
	}
	var img v1.Image
	switch kind {
	case "docker":
		img, err = tarball.Image(open, nil)
	case "oci":
		var cleanup func()
		img, cleanup, err = s.ociImage(open)
		if cleanup != nil {
			defer cleanup()
		}
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w %s: %w", ErrBadArchive, ref.Archive, err)
	}
	began := time.Now()
	out, err := s.provision(ctx, ref, img)
	if err != nil {
		return Image{}, fmt.Errorf("%w %s: %w", ErrBadArchive, ref.Archive, err)
	}
	if kind == "oci" {
		if d, err := img.Digest(); err == nil {
			out.Digest = d.String()
		}
	}
	s.log.Info("image loaded from archive", "image", ref.String(), "layers", len(out.Layers),
		"duration", time.Since(began).Round(time.Millisecond))
	return out, nil
}

// archiveKind is "docker" or "oci", from the names at the archive's top.
func archiveKind(open func() (io.ReadCloser, error)) (string, error) {
	rc, err := open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var oci, index bool
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a tar archive: %w", err)
		}
		switch path.Clean("/" + hdr.Name) {
		case "/manifest.json":
			return "docker", nil
		case "/oci-layout":
			oci = true
		case "/index.json":
			index = true
		}
		if oci && index {
			return "oci", nil
		}
	}
	return "", errors.New("neither manifest.json (docker save) nor oci-layout and index.json (OCI layout) found")
}

// ociImage unpacks an OCI layout tar into a temporary directory of the
// store and opens the image for this platform in it. cleanup removes the
// directory.
func (s *Store) ociImage(open func() (io.ReadCloser, error)) (v1.Image, func(), error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.cfg.Dir, "layers"), ".tmp-oci-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	rc, err := open()
	if err != nil {
		return nil, cleanup, err
	}
	err = Extract(rc, tmp)
	rc.Close()
	if err != nil {
		return nil, cleanup, err
	}
	idx, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return nil, cleanup, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, cleanup, err
	}
	want := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	for _, d := range im.Manifests {
		if d.Platform != nil && !d.Platform.Satisfies(want) {
			continue
		}
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, cleanup, err
			}
			cm, err := child.IndexManifest()
			if err != nil {
				return nil, cleanup, err
			}
			for _, cd := range cm.Manifests {
				if cd.MediaType.IsImage() && (cd.Platform == nil || cd.Platform.Satisfies(want)) {
					img, err := child.Image(cd.Digest)
					return img, cleanup, err
				}
			}
			continue
		}
		if d.MediaType.IsImage() {
			img, err := idx.Image(d.Digest)
			return img, cleanup, err
		}
	}
	return nil, cleanup, fmt.Errorf("the OCI layout has no image for linux/%s", runtime.GOARCH)
}
