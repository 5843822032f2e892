package image

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Credential is a registry user name and password (Mesos'
// Image.Docker.credential: principal and secret). String never shows the
// secret.
type Credential struct {
	Username string
	Password string
}

func (c Credential) String() string { return c.Username + ":<redacted>" }

// keychain holds the registry credentials of a docker config.json file, by
// registry host.
type keychain map[string]authn.AuthConfig

// dockerConfigFile is the part of ~/.docker/config.json that is read.
// Credential helpers and stores are not supported.
type dockerConfigFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
}

// parseDockerConfig reads the "auths" of a docker config.json. Keys may be
// "host[:port]", URLs ("https://index.docker.io/v1/") or names with a path;
// only the host is kept. Every bad entry is reported.
func parseDockerConfig(b []byte) (keychain, error) {
	var f dockerConfigFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	kc := keychain{}
	var errs []error
	for key, a := range f.Auths {
		host := authHost(key)
		if host == "" {
			errs = append(errs, fmt.Errorf("docker config: auths key %q names no registry", key))
			continue
		}
		ac := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				errs = append(errs, fmt.Errorf("docker config: auths[%q].auth is not base64", key))
				continue
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				errs = append(errs, fmt.Errorf("docker config: auths[%q].auth is not user:password", key))
				continue
			}
			ac.Username, ac.Password = u, p
		}
		kc[host] = ac
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return kc, nil
}

// authHost is the registry host of a docker config "auths" key.
func authHost(key string) string {
	k := key
	if !strings.Contains(k, "://") {
		k = "//" + k
	}
	u, err := url.Parse(k)
	if err != nil {
		return ""
	}
	return registryHost(u.Host)
}

// Resolve implements authn.Keychain.
func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	host := r.RegistryStr()
	if ac, ok := k[registryHost(host)]; ok {
		return authn.FromConfig(ac), nil
	}
	if host == name.DefaultRegistry {
		if ac, ok := k["registry-1.docker.io"]; ok {
			return authn.FromConfig(ac), nil
		}
	}
	return authn.Anonymous, nil
}
