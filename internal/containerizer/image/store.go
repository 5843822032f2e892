// Package image provisions container images for the mesos runtime: it pulls
// Docker/OCI images from registries (go-containerregistry) or loads them from
// archives in a task's sandbox, and keeps their layers in a
// content-addressed cache shared by all tasks of an agent.
//
// Each layer is extracted once, keyed by its diff id (the digest of its
// uncompressed tar), into <Dir>/layers/sha256-<hex>, by extracting into a
// temporary directory and renaming it, so a crash never leaves a half layer
// in the cache. Concurrent requests for the same image or layer are
// de-duplicated. Layers are stored in overlayfs' terms (whiteouts as 0/0
// character devices, opaque directories by xattr) so that they can be
// stacked as overlay lower directories by the runtime; this package mounts
// nothing and starts no process. It needs root to write whiteouts and keep
// file owners.
//
// A registry image, once resolved, is remembered by name (<Dir>/images), so
// that later launches do not contact the registry at all unless they ask for
// a fresh pull (Image.cached=false, Marathon's forcePullImage).
//
// The cache is never trimmed yet: layers stay until an operator removes
// <Dir>.
package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
)

// DefaultRegistry is the registry of image names without a host.
const DefaultRegistry = "registry-1.docker.io"

// DefaultRegistryTimeout bounds connecting to a registry and waiting for
// each of its answers.
const DefaultRegistryTimeout = 20 * time.Second

// Errors that say what went wrong in terms a user can act on; Get's errors
// wrap one of them (or ErrBadName, ErrUnsafeLayer).
var (
	ErrNotFound     = errors.New("image not found")
	ErrUnauthorized = errors.New("registry refused access")
	ErrUnreachable  = errors.New("registry unreachable")
	ErrBadArchive   = errors.New("bad image archive")
)

// Config configures a Store.
type Config struct {
	// Dir holds the cache (e.g. <work_dir>/images); created if missing.
	Dir string
	// DefaultRegistry is the registry of names without a host. Default
	// DefaultRegistry (Docker Hub).
	DefaultRegistry string
	// Mirror, if set, is tried first for images of the default registry
	// (host[:port]); the default registry is used when the mirror fails.
	Mirror string
	// InsecureRegistries may be reached over plain HTTP (host[:port]);
	// any other registry only over HTTPS.
	InsecureRegistries []string
	// DockerConfig is the path of a docker config.json whose "auths" give
	// registry credentials ("" for none).
	DockerConfig string
	// RegistryTimeout bounds connecting to a registry and each answer.
	// Default DefaultRegistryTimeout.
	RegistryTimeout time.Duration
	// Transport, if set, is the HTTP transport to registries (tests count
	// requests through it); timeouts are then its own.
	Transport http.RoundTripper
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		errs = append(errs, fmt.Errorf("image store: dir %q must be an absolute path", c.Dir))
	}
	for what, h := range map[string]string{"default registry": c.DefaultRegistry, "registry mirror": c.Mirror} {
		if h != "" {
			if _, err := name.NewRegistry(h); err != nil {
				errs = append(errs, fmt.Errorf("image store: %s %q: want host[:port]", what, h))
			}
		}
	}
	for _, h := range c.InsecureRegistries {
		if _, err := name.NewRegistry(h); err != nil || h == "" {
			errs = append(errs, fmt.Errorf("image store: insecure registry %q: want host[:port]", h))
		}
	}
	if c.RegistryTimeout < 0 {
		errs = append(errs, errors.New("image store: negative registry timeout"))
	}
	return errors.Join(errs...)
}

// Deps are the collaborators of a Store.
type Deps struct {
	Logger *slog.Logger // nil: discard
}

// Store provisions images. It is safe for concurrent use.
type Store struct {
	cfg       Config
	log       *slog.Logger
	transport http.RoundTripper
	flight    singleflight.Group
}

// New returns a Store. It does no I/O: the docker config file is read at
// each pull, so that it can be changed without restarting the agent.
func New(cfg Config, deps Deps) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DefaultRegistry == "" {
		cfg.DefaultRegistry = DefaultRegistry
	}
	if cfg.RegistryTimeout == 0 {
		cfg.RegistryTimeout = DefaultRegistryTimeout
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := cfg.Transport
	if base == nil {
		t := cfg.RegistryTimeout
		base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: t, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   t,
			ResponseHeaderTimeout: t,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Store{
		cfg:       cfg,
		log:       log.With("component", "images"),
		transport: httpGuard{next: base, allowed: cfg.InsecureRegistries},
	}, nil
}

// httpGuard refuses plain-HTTP requests to registries that are not listed
// as insecure (go-containerregistry itself falls back to HTTP for loopback
// and private addresses).
type httpGuard struct {
	next    http.RoundTripper
	allowed []string
}

func (g httpGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !slices.Contains(g.allowed, r.URL.Host) {
		return nil, fmt.Errorf("registry %s is not listed as insecure (--docker-insecure-registries), so it is not contacted over plain HTTP", r.URL.Host)
	}
	return g.next.RoundTrip(r)
}

// Request asks for one image.
type Request struct {
	// Name is the image name: a registry reference or ArchivePrefix+path.
	Name string
	// Credential for the registry (overrides the docker config file).
	Credential *Credential
	// Sandbox is the task's sandbox, where archives are found.
	Sandbox string
	// ForcePull contacts the registry even when the image is known.
	ForcePull bool
}

// Image is a provisioned image: its layers in the cache and its config.
type Image struct {
	// Name is the canonical name the image was resolved from.
	Name string `json:"name"`
	// Digest is the manifest digest ("" for a docker save archive).
	Digest string `json:"digest,omitempty"`
	// DiffIDs are the layers, bottom first.
	DiffIDs []string `json:"diff_ids"`
	// Config is the image's runtime configuration.
	Config RunConfig `json:"config"`
	// Layers are the directories of the extracted layers, bottom first
	// (filled in by Get; not stored).
	Layers []string `json:"-"`
}

// RunConfig is the part of an image's config that says how to run it.
type RunConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Get provisions the image req names: from the cache when it has been
// resolved before (and req.ForcePull is not set), else from its registry
// or archive; every layer not yet in the cache is extracted there.
func (s *Store) Get(ctx context.Context, req Request) (Image, error) {
	ref, err := ParseName(req.Name, s.cfg.DefaultRegistry, s.cfg.InsecureRegistries)
	if err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.Dir, "layers"), 0o700); err != nil {
		return Image{}, fmt.Errorf("image store: %w", err)
	}
	if ref.Archive != "" {
		return s.fromArchive(ctx, ref, req.Sandbox)
	}
	if !req.ForcePull {
		if img, ok := s.known(ref); ok {
			return img, nil
		}
	}
	key := "pull\x00" + ref.String()
	if req.Credential != nil {
		key += "\x00" + req.Credential.Username
	}
	v, err, _ := s.flight.Do(key, func() (any, error) {
		return s.pull(ctx, ref, req.Credential)
	})
	if err != nil {
		return Image{}, err
	}
	return v.(Image), nil
}

// recordPath is where the resolution of a registry name is remembered.
func (s *Store) recordPath(ref Ref) string {
	sum := sha256.Sum256([]byte(ref.String()))
	return filepath.Join(s.cfg.Dir, "images", hex.EncodeToString(sum[:])+".json")
}

// known returns a remembered image whose layers are all in the cache.
func (s *Store) known(ref Ref) (Image, bool) {
	b, err := os.ReadFile(s.recordPath(ref))
	if err != nil {
		return Image{}, false
	}
	var img Image
	if json.Unmarshal(b, &img) != nil || img.Name != ref.String() {
		return Image{}, false
	}
	for _, d := range img.DiffIDs {
		dir, err := s.layerDir(d)
		if err != nil {
			return Image{}, false
		}
		if _, err := os.Stat(dir); err != nil {
			return Image{}, false
		}
		img.Layers = append(img.Layers, dir)
	}
	return img, true
}

func (s *Store) remember(ref Ref, img Image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return err
	}
	p := s.recordPath(ref)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// pull resolves ref in its registry (or the mirror first) and provisions
// its layers.
func (s *Store) pull(ctx context.Context, ref Ref, cred *Credential) (Image, error) {
	began := time.Now()
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.transport),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 2}),
	}
	if cred != nil {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: cred.Username, Password: cred.Password}))
	} else {
		kc, err := s.keychain()
		if err != nil {
			return Image{}, err
		}
		opts = append(opts, remote.WithAuthFromKeychain(kc))
	}
	var img v1.Image
	var err error
	if m := s.mirrorOf(ref.Registry); m != nil {
		img, err = remote.Image(m, opts...)
		if err != nil {
			s.log.Warn("registry mirror failed; trying the registry", "image", ref.String(), "mirror", s.cfg.Mirror, "error", err)
		}
	}
	if img == nil {
		img, err = remote.Image(ref.Registry, opts...)
		if err != nil {
			return Image{}, classify(ref, err)
		}
	}
	out, err := s.provision(ctx, ref, img)
	if err != nil {
		return Image{}, classify(ref, err)
	}
	if d, err := img.Digest(); err == nil {
		out.Digest = d.String()
	}
	if err := s.remember(ref, out); err != nil {
		s.log.Warn("remember image", "image", ref.String(), "error", err)
	}
	s.log.Info("image pulled", "image", ref.String(), "digest", out.Digest, "layers", len(out.Layers),
		"duration", time.Since(began).Round(time.Millisecond))
	return out, nil
}

// mirrorOf is ref on the mirror, when there is one and ref is on the
// default registry.
func (s *Store) mirrorOf(ref name.Reference) name.Reference {
	if s.cfg.Mirror == "" || ref.Context().RegistryStr() != registryHost(s.cfg.DefaultRegistry) {
		return nil
	}
	opts := []name.Option{}
	if slices.Contains(s.cfg.InsecureRegistries, s.cfg.Mirror) {
		opts = append(opts, name.Insecure)
	}
	m, err := name.ParseReference(s.cfg.Mirror+"/"+ref.Context().RepositoryStr()+refSuffix(ref), opts...)
	if err != nil {
		return nil
	}
	return m
}

func refSuffix(ref name.Reference) string {
	if d, ok := ref.(name.Digest); ok {
		return "@" + d.DigestStr()
	}
	return ":" + ref.Identifier()
}

func (s *Store) keychain() (authn.Keychain, error) {
	if s.cfg.DockerConfig == "" {
		return keychain{}, nil
	}
	b, err := os.ReadFile(s.cfg.DockerConfig)
	if err != nil {
		return nil, fmt.Errorf("read registry credentials (--docker-config): %w", err)
	}
	kc, err := parseDockerConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.cfg.DockerConfig, err)
	}
	return kc, nil
}

var hexDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// layerDir is the cache directory of a layer.
func (s *Store) layerDir(diffID string) (string, error) {
	if !hexDigest.MatchString(diffID) {
		return "", fmt.Errorf("unsupported layer digest %q", diffID)
	}
	return filepath.Join(s.cfg.Dir, "layers", strings.Replace(diffID, ":", "-", 1)), nil
}

// provision extracts the image's layers into the cache and reads its
// config.
func (s *Store) provision(ctx context.Context, ref Ref, img v1.Image) (Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("read image config: %w", err)
	}
	if cf.OS != "" && cf.OS != "linux" {
		return Image{}, fmt.Errorf("image is for %s, not linux", cf.OS)
	}
	layers, err := img.Layers()
	if err != nil {
		return Image{}, fmt.Errorf("read image layers: %w", err)
	}
	out := Image{
		Name: ref.String(),
		Config: RunConfig{
			Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env,
			User: cf.Config.User, WorkingDir: cf.Config.WorkingDir,
		},
	}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return Image{}, err
		}
		d, err := l.DiffID()
		if err != nil {
			return Image{}, fmt.Errorf("layer digest: %w", err)
		}
		dir, err := s.layer(d.String(), l)
		if err != nil {
			return Image{}, err
		}
		out.DiffIDs = append(out.DiffIDs, d.String())
		out.Layers = append(out.Layers, dir)
	}
	return out, nil
}

// layer returns the cache directory of a layer, extracting it first if
// it is not there; concurrent calls for one layer extract it once.
func (s *Store) layer(diffID string, l v1.Layer) (string, error) {
	dir, err := s.layerDir(diffID)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	_, err, _ = s.flight.Do("layer\x00"+diffID, func() (any, error) {
		if _, err := os.Stat(dir); err == nil {
			return nil, nil
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
		}
		err = Extract(rc, tmp)
		if err == nil {
			// Read to the end, where the blob's digest is verified.
			_, err = io.Copy(io.Discard, rc)
		}
		if cerr := rc.Close(); err == nil {
			err = cerr // a digest mismatch shows up at Close
		}
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			_ = os.RemoveAll(tmp)
			if _, serr := os.Stat(dir); serr == nil {
				return nil, nil // another agent process won the race
			}
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		return "", err
	}
	return dir, nil
}

// RemoveTemp removes what interrupted extractions left in the cache (an
// agent killed while extracting). Call it before the store is used.
func (s *Store) RemoveTemp() error {
	ents, err := os.ReadDir(filepath.Join(s.cfg.Dir, "layers"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			errs = append(errs, os.RemoveAll(filepath.Join(s.cfg.Dir, "layers", e.Name())))
		}
	}
	return errors.Join(errs...)
}
