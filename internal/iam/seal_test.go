package iam

import (
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// TestSealedSigningKeys: signing keys written in the clear (before keys
// were encrypted at rest) are sealed by the first Service with a Sealer;
// the raw store then holds no PEM key, a restart with the KEK opens them
// (tokens issued before still verify), and a Service without it cannot start.
func TestSealedSigningKeys(t *testing.T) {
	st := storetest.Open(t)
	clk := newClock()
	plain := newService(t, st, clk)
	if err := plain.createUser(t.Context(), "alice", newUser{Password: "alice-pw"}); err != nil {
		t.Fatal(err)
	}
	tok, err := plain.IssueToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	raw := func() string {
		t.Helper()
		kvs, err := st.List(t.Context(), "iam/keys/")
		if err != nil || len(kvs) == 0 {
			t.Fatalf("keys: %v", err)
		}
		var b strings.Builder
		for _, kv := range kvs {
			b.Write(kv.Value)
		}
		return b.String()
	}
	if !strings.Contains(raw(), "PRIVATE KEY") {
		t.Fatal("expected a plaintext key to migrate")
	}
	kek, _, err := pki.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealed := newService(t, st, clk, func(c *Config) { c.Sealer = kek })
	if strings.Contains(raw(), "PRIVATE KEY") {
		t.Fatal("a signing key is still in the clear after a start with a KEK")
	}
	if _, err := sealed.VerifyToken(tok); err != nil {
		t.Fatalf("token of the migrated key: %v", err)
	}
	again := newService(t, st, clk, func(c *Config) { c.Sealer = kek })
	if err := again.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw(), "PRIVATE KEY") {
		t.Fatal("a rotated key was written in the clear")
	}
	if _, err := New(t.Context(), Config{Store: st, Argon2: cheapArgon2}); err == nil {
		t.Fatal("a Service without the KEK started on sealed keys")
	}
}
