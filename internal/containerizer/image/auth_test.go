package image

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestParseDockerConfig(t *testing.T) {
	kc, err := parseDockerConfig([]byte(`{"auths":{
		"https://index.docker.io/v1/":{"auth":"aHViOnB3"},
		"reg.example:5000":{"username":"u","password":"p"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"busybox": "hub", "reg.example:5000/x": "u", "other.example/x": ""} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", ref, cfg.Username, want)
		}
		if want == "" && a != authn.Anonymous {
			t.Errorf("%s: not anonymous", ref)
		}
	}
	if _, err := parseDockerConfig([]byte(`{"auths":{"a":{"auth":"!!"},"b":{"auth":"bm9jb2xvbg=="}}}`)); err == nil {
		t.Error("bad auths accepted")
	}
	if c := (Credential{Username: "u", Password: "secret"}).String(); c != "u:<redacted>" {
		t.Errorf("credential prints as %q", c)
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"}}}`))
	f.Add([]byte(`{"auths":{"r:1":{"username":"u","password":"p","identitytoken":"t"}}}`))
	f.Add([]byte(`{"auths":{"::":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kc, err := parseDockerConfig(b)
		if err != nil {
			return
		}
		for host := range kc {
			if host == "" {
				t.Error("credential for an empty host")
			}
		}
	})
}
