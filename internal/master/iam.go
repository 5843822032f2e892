package master

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/store"
)

// BootstrapPasswordFile is where a master writes the superuser's generated
// one-time password (0600, inside the data dir) when no password was given.
const BootstrapPasswordFile = "bootstrap-password"

// newIAM starts the IAM on this master's store and makes sure the cluster
// has a first user. Every master runs it: tokens signed by one verify on all.
func (m *Master) newIAM(ctx context.Context, st *store.Store, kek *pki.KEK) (*iam.Service, error) {
	cfg := iam.Config{Store: st, TokenTTL: m.cfg.AuthTokenTTL, Issuer: iam.ClusterIssuer, Logger: m.log}
	if kek != nil {
		cfg.Sealer = kek // signing keys sealed at rest; a nil *KEK must not become a non-nil interface
	}
	svc, err := iam.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	password, err := m.superuserPassword()
	if err != nil {
		svc.Close()
		return nil, err
	}
	generated, err := svc.EnsureSuperuser(ctx, m.cfg.Superuser, password)
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("iam: bootstrap superuser: %w", err)
	}
	if err := ensureSystemAccounts(ctx, svc); err != nil {
		svc.Close()
		return nil, fmt.Errorf("iam: %w", err)
	}
	if generated != "" {
		path := filepath.Join(m.cfg.DataDir, BootstrapPasswordFile)
		if err := writeSecret(path, generated+"\n"); err != nil {
			svc.Close()
			return nil, fmt.Errorf("iam: keep the bootstrap password: %w", err)
		}
		m.bootstrapPassword.Store(generated)
		// The path, never the password: logs are collected and shipped.
		m.log.Warn("created the superuser with a one-time password; log in and change it",
			"uid", m.cfg.Superuser, "password_file", path)
	}
	return svc, nil
}

// superuserPassword reads --superuser-password-file ("" when not given).
func (m *Master) superuserPassword() (string, error) {
	if m.cfg.SuperuserPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(m.cfg.SuperuserPasswordFile)
	if err != nil {
		return "", fmt.Errorf("superuser-password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("superuser-password-file is empty")
	}
	return pw, nil
}

// writeSecret writes a file only its owner can read, replacing it whole.
func writeSecret(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// BootstrapPassword is the superuser's one-time password when this master
// generated it in this run ("" otherwise), for `basalt up` to show once.
func (m *Master) BootstrapPassword() string {
	v, _ := m.bootstrapPassword.Load().(string)
	return v
}

// IAM is this master's IAM (nil before Ready or when the Admin Router is
// off).
func (m *Master) IAM() *iam.Service { return m.iam.Load() }
