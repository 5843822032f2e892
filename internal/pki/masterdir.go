package pki

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"

	"github.com/basalt-dcos/basalt/internal/secretfile"
)

// MasterDir is a master's PKI directory (DATA_DIR/pki, mode 0700). It holds
// what a master needs before its store exists — TLS for the store comes
// first, and the CA in the store comes after:
//
//	ca.crt         the cluster CA certificate
//	ca.key         the CA's private key (the bootstrap master only)
//	kek            the key-encryption key (see KEK)
//	master-secret  the master join secret (the bootstrap master only)
//	peer.crt/.key  this master's store certificate (server + client auth)
//
// Every secret file is 0600.
type MasterDir string

// File names in a MasterDir.
const (
	caCertFile       = "ca.crt"
	caKeyFile        = "ca.key"
	masterSecretFile = "master-secret"
	peerCertFile     = "peer.crt"
	peerKeyFile      = "peer.key"
)

func (d MasterDir) path(name string) string { return filepath.Join(string(d), name) }

// StoreTLS names the files the store's mutual TLS uses.
func (d MasterDir) StoreTLS() *store.TLSFiles {
	return &store.TLSFiles{CAFile: d.path(caCertFile), CertFile: d.path(peerCertFile), KeyFile: d.path(peerKeyFile)}
}

// Bootstrapped is the PKI of the master that bootstraps the cluster.
type Bootstrapped struct {
	CA  *CA
	KEK *KEK
	// MasterToken is the token other masters join with (K10<CA hash>::<master secret>).
	MasterToken JoinToken
}

// Bootstrap loads the bootstrap master's CA, KEK and master join secret
// from d, creating whichever is missing. It is idempotent: a restart finds
// what the first start created.
func (d MasterDir) Bootstrap() (*Bootstrapped, error) {
	ca, err := d.loadOrCreateCA()
	if err != nil {
		return nil, fmt.Errorf("bootstrap PKI: %w", err)
	}
	kek, err := d.LoadOrCreateKEK()
	if err != nil {
		return nil, fmt.Errorf("bootstrap PKI: %w", err)
	}
	secret, err := d.loadOrCreateSecret(masterSecretFile)
	if err != nil {
		return nil, fmt.Errorf("bootstrap PKI: master secret: %w", err)
	}
	return &Bootstrapped{CA: ca, KEK: kek, MasterToken: JoinToken{CAHash: ca.Hash(), Secret: secret}}, nil
}

// LoadOrCreateKEK reads d's KEK, creating it if there is none.
func (d MasterDir) LoadOrCreateKEK() (*KEK, error) {
	k, err := LoadKEK(d.path(KEKFile))
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, raw, err := GenerateKEK()
	if err != nil {
		return nil, err
	}
	if err := WriteKEK(d.path(KEKFile), raw); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKEK(d.path(KEKFile))
		}
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return k, nil
}

// LoadKEK reads d's KEK (an error wrapping fs.ErrNotExist when there is none).
func (d MasterDir) LoadKEK() (*KEK, error) { return LoadKEK(d.path(KEKFile)) }

func (d MasterDir) loadOrCreateCA() (*CA, error) {
	certPEM, cerr := os.ReadFile(d.path(caCertFile))
	keyPEM, kerr := os.ReadFile(d.path(caKeyFile))
	switch {
	case cerr == nil && kerr == nil:
		ca, err := loadCA(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", string(d), err)
		}
		return ca, nil
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, cerr
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, kerr
	default:
		return nil, fmt.Errorf("%s holds only one of ca.crt and ca.key", string(d))
	}
	ca, err := NewCA(time.Now())
	if err != nil {
		return nil, err
	}
	kp, err := ca.keyPEM()
	if err != nil {
		return nil, err
	}
	if err := secretfile.Create(d.path(caKeyFile), kp); err != nil {
		return nil, fmt.Errorf("write CA key: %w", err)
	}
	if err := secretfile.Write(d.path(caCertFile), ca.certPEM); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	return ca, nil
}

func (d MasterDir) loadOrCreateSecret(name string) (string, error) {
	data, err := os.ReadFile(d.path(name))
	if err == nil {
		s := strings.TrimSpace(string(data))
		if err := checkSecret(s); err != nil {
			return "", fmt.Errorf("%s: %w", d.path(name), err)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	s, err := newSecret()
	if err != nil {
		return "", err
	}
	if err := secretfile.Create(d.path(name), []byte(s+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return d.loadOrCreateSecret(name)
		}
		return "", err
	}
	return s, nil
}

func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Joined reports whether d holds what a master that joined needs to start
// its store member: the CA certificate, a peer certificate and key, and the KEK.
func (d MasterDir) Joined() bool {
	for _, f := range []string{caCertFile, peerCertFile, peerKeyFile, KEKFile} {
		if _, err := os.Stat(d.path(f)); err != nil {
			return false
		}
	}
	return true
}

// SaveJoin writes what JoinMaster returned: the CA certificate, the peer
// certificate and key, and the KEK (an existing KEK file must hold the same key).
func (d MasterDir) SaveJoin(j *Joined, kek *KEK) error {
	if old, err := d.LoadKEK(); err == nil {
		if old.ID() != kek.ID() {
			return fmt.Errorf("save join: %s holds key-encryption key %s, the cluster's is %s", string(d), old.ID(), kek.ID())
		}
	} else if err := WriteKEK(d.path(KEKFile), kek.raw); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("save join: %w", err)
	}
	if err := secretfile.Write(d.path(caCertFile), j.CAPEM); err != nil {
		return fmt.Errorf("save join: %w", err)
	}
	if err := secretfile.Write(d.path(peerKeyFile), j.KeyPEM); err != nil {
		return fmt.Errorf("save join: %w", err)
	}
	if err := secretfile.Write(d.path(peerCertFile), j.CertPEM); err != nil {
		return fmt.Errorf("save join: %w", err)
	}
	return nil
}

// CACert reads the CA certificate in d.
func (d MasterDir) CACert() (*x509.Certificate, error) {
	data, err := os.ReadFile(d.path(caCertFile))
	if err != nil {
		return nil, err
	}
	return ParseCertPEM(data)
}

// PeerCertificate reads this master's peer certificate and key.
func (d MasterDir) PeerCertificate() (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(d.path(peerCertFile), d.path(peerKeyFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peer certificate: %w", err)
	}
	return c, nil
}

// EnsurePeerCert issues this master's peer certificate from ca for names
// unless a current one exists: it covers every name, chains to ca and has
// more than a third of its lifetime left. The files are replaced in place;
// etcd reads them on every handshake.
func (d MasterDir) EnsurePeerCert(ca *CA, names []string, ttl time.Duration) (renewed bool, err error) {
	if c, err := d.PeerCertificate(); err == nil && peerCertCurrent(c.Leaf, ca, names, ca.now()) {
		return false, nil
	}
	c, err := ca.IssuePeer(names, ttl)
	if err != nil {
		return false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return false, err
	}
	if err := secretfile.Write(d.path(caCertFile), ca.certPEM); err != nil {
		return false, err
	}
	if err := secretfile.Write(d.path(peerKeyFile), pemBlock("PRIVATE KEY", keyDER)); err != nil {
		return false, err
	}
	if err := secretfile.Write(d.path(peerCertFile), pemBlock("CERTIFICATE", c.Certificate[0])); err != nil {
		return false, err
	}
	return true, nil
}

func peerCertCurrent(leaf *x509.Certificate, ca *CA, names []string, now time.Time) bool {
	if leaf == nil {
		return false
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return false
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if leaf.NotAfter.Sub(now) <= life/3 {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// masterSecretStoreKey holds the master join secret, sealed with the KEK.
const masterSecretStoreKey = "pki/master-join-secret"

// EnsureMasterSecret stores secret (the bootstrap master's) sealed with kek
// if the store holds none, and returns the stored one. With secret empty it
// only reads. Every master can then let further masters join.
func EnsureMasterSecret(ctx context.Context, st *store.Store, kek *KEK, secret string) (string, error) {
	for {
		data, err := st.Get(ctx, masterSecretStoreKey)
		if err == nil {
			pt, err := kek.Open(string(data), masterSecretStoreKey)
			if err != nil {
				return "", fmt.Errorf("master join secret: %w", err)
			}
			return string(pt), nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("master join secret: %w", err)
		}
		if secret == "" {
			return "", nil
		}
		sealed, err := kek.Seal([]byte(secret), masterSecretStoreKey)
		if err != nil {
			return "", err
		}
		err = st.Apply(ctx, store.PutIfAbsent(masterSecretStoreKey, []byte(sealed)))
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return "", fmt.Errorf("master join secret: %w", err)
		}
	}
}
