package pki

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

func TestKEKSealOpen(t *testing.T) {
	k, _, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	env, err := k.Seal([]byte("secret key"), "pki/ca")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(env, "secret") || !IsEnvelope(env) {
		t.Fatalf("envelope %q", env)
	}
	if pt, err := k.Open(env, "pki/ca"); err != nil || string(pt) != "secret key" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open(env, "iam/keys/1"); err == nil {
		t.Error("a value moved to another key opened")
	}
	if _, err := other.Open(env, "pki/ca"); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("other KEK: %v, want ErrWrongKEK", err)
	}
	tampered := env[:len(env)-2] + "AA"
	if _, err := k.Open(tampered, "pki/ca"); err == nil {
		t.Error("a tampered value opened")
	}
	if _, err := k.Open("-----BEGIN PRIVATE KEY-----", "pki/ca"); !errors.Is(err, ErrNotEnvelope) {
		t.Errorf("plaintext: %v, want ErrNotEnvelope", err)
	}
}

func TestKEKFile(t *testing.T) {
	d := MasterDir(filepath.Join(t.TempDir(), "pki"))
	k, err := d.LoadOrCreateKEK()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(string(d), KEKFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file: %v %v", fi, err)
	}
	again, err := d.LoadOrCreateKEK()
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("reload: %v %v", again, err)
	}
	if err := os.Chmod(filepath.Join(string(d), KEKFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadKEK(); err == nil {
		t.Error("a world-readable KEK file was accepted")
	}
}

// TestEnsureCASealsAndMigrates: a CA stored in the clear (as before
// encryption at rest) is sealed by the first EnsureCA with a KEK; the raw
// value then holds no PEM key, and a restart (a new EnsureCA) opens it.
func TestEnsureCASealsAndMigrates(t *testing.T) {
	st := storetest.Open(t)
	ctx := t.Context()
	plain, err := EnsureCA(ctx, st, CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertRaw(ctx, t, st, true)
	k, _, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := EnsureCA(ctx, st, CAOptions{KEK: k})
	if err != nil || sealed.Hash() != plain.Hash() {
		t.Fatalf("migrate: %v", err)
	}
	assertRaw(ctx, t, st, false)
	again, err := EnsureCA(ctx, st, CAOptions{KEK: k})
	if err != nil || again.Hash() != plain.Hash() {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := again.IssueServer([]string{"localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureCA(ctx, st, CAOptions{}); err == nil {
		t.Error("a master without the KEK read a sealed CA")
	}
	other, _, _ := GenerateKEK()
	if _, err := EnsureCA(ctx, st, CAOptions{KEK: other}); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("wrong KEK: %v", err)
	}
	// A disk CA that is not the stored one is refused.
	stranger, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureCA(ctx, st, CAOptions{KEK: k, Use: stranger}); err == nil {
		t.Error("a foreign disk CA was accepted")
	}
}

func assertRaw(ctx context.Context, t *testing.T, st *store.Store, wantPlain bool) {
	t.Helper()
	raw, err := st.Get(ctx, caStoreKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Contains(string(raw), "PRIVATE KEY"); got != wantPlain {
		t.Fatalf("raw stored CA has a PEM key: %v, want %v", got, wantPlain)
	}
}

// TestJoinSecretSealed: the node join secret is stored sealed (the raw
// store holds no secret a token carries), read back by a restart, rotated
// with the previous secret sealed too, and a secret stored in the clear (a
// cluster from before sealing) is sealed by the first master with a KEK.
func TestJoinSecretSealed(t *testing.T) {
	st := storetest.Open(t)
	ctx := t.Context()
	k, _, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := EnsureCA(ctx, st, CAOptions{KEK: k})
	if err != nil {
		t.Fatal(err)
	}
	// A cluster from before: the secret and a rotated-out one in the clear.
	tok, err := EnsureJoinToken(ctx, st, ca, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := RotateJoinSecret(ctx, st, ca, nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	assertSecretsRaw(ctx, t, st, true, tok.Secret, rotated.Secret)

	again, err := EnsureJoinToken(ctx, st, ca, k, nil)
	if err != nil || again.Secret != rotated.Secret {
		t.Fatalf("migrate: %v (secret kept: %v)", err, again.Secret == rotated.Secret)
	}
	assertSecretsRaw(ctx, t, st, false, tok.Secret, rotated.Secret)
	secrets, err := JoinSecrets(ctx, st, k, time.Now())
	if err != nil || len(secrets) != 2 || secrets[0] != rotated.Secret || secrets[1] != tok.Secret {
		t.Fatalf("join secrets after sealing: %d secrets, %v", len(secrets), err)
	}
	if _, err := JoinSecrets(ctx, st, nil, time.Now()); err == nil {
		t.Error("a master without the KEK read the sealed secret")
	}
	other, _, _ := GenerateKEK()
	if _, err := JoinSecrets(ctx, st, other, time.Now()); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("wrong KEK: %v", err)
	}

	// Rotation keeps both sealed; the grace period still applies.
	third, err := RotateJoinSecret(ctx, st, ca, k, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	assertSecretsRaw(ctx, t, st, false, rotated.Secret, third.Secret)
	if s, err := JoinSecrets(ctx, st, k, time.Now()); err != nil || len(s) != 2 || s[0] != third.Secret || s[1] != rotated.Secret {
		t.Fatalf("after a sealed rotation: %d secrets, %v", len(s), err)
	}
	if s, err := JoinSecrets(ctx, st, k, time.Now().Add(2*time.Minute)); err != nil || len(s) != 1 {
		t.Fatalf("after the grace period: %d secrets, %v", len(s), err)
	}
	// A sealed value moved to the other key does not open there.
	raw, err := st.Get(ctx, secretStoreKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSecret(k, string(raw), previousSecretStoreKey); err == nil {
		t.Error("the current secret's envelope opened as the previous one")
	}
}

// assertSecretsRaw checks whether the raw join-secret keys hold any of
// secrets in the clear.
func assertSecretsRaw(ctx context.Context, t *testing.T, st *store.Store, wantClear bool, secrets ...string) {
	t.Helper()
	kvs, err := st.List(ctx, "pki/join-secret")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 {
		t.Fatalf("%d join-secret keys, want 2", len(kvs))
	}
	found := false
	for _, kv := range kvs {
		for _, s := range secrets {
			if strings.Contains(string(kv.Value), s) {
				found = true
			}
		}
	}
	if found != wantClear {
		t.Fatalf("a join secret in the clear in the store: %v, want %v", found, wantClear)
	}
}
