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
