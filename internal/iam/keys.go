package iam

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/basalt-dcos/basalt/internal/store"
)

// signingKeyBits is the size of the IAM's RSA keys.
const signingKeyBits = 2048

// parseKeyRecord decodes a stored key; a sealed one (anything but PEM) is
// opened with sealer, bound to its absolute store key.
func parseKeyRecord(rec keyRecord, sealer KeySealer, storeKey string) (*signingKey, error) {
	pemText := []byte(rec.PrivateKey)
	if !isPEM(rec.PrivateKey) {
		if sealer == nil {
			return nil, fmt.Errorf("signing key generation %d is sealed and this master has no key-encryption key", rec.Gen)
		}
		pt, err := sealer.Open(rec.PrivateKey, storeKey)
		if err != nil {
			return nil, fmt.Errorf("signing key generation %d: %w", rec.Gen, err)
		}
		pemText = pt
	}
	block, _ := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("signing key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key: %T is not RSA", k)
	}
	if tp := thumbprint(&priv.PublicKey); tp != rec.KID {
		return nil, fmt.Errorf("signing key generation %d: kid %q is not its thumbprint %q", rec.Gen, rec.KID, tp)
	}
	return &signingKey{rec: rec, kid: rec.KID, priv: priv, pub: &priv.PublicKey}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an RSA public key, used as kid.
func thumbprint(pub *rsa.PublicKey) string {
	// Members in lexicographic order, no whitespace, as RFC 7638 requires.
	j := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
		b64(big.NewInt(int64(pub.E)).Bytes()), b64(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(j))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// addKey creates key generation gen if it does not exist (store.ErrConflict if it
// does: another master created it first, and its key wins).
func (s *Service) addKey(ctx context.Context, gen int, more ...store.Op) error {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	keyText := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if s.db.sealer != nil {
		if keyText, err = s.db.sealer.Seal([]byte(keyText), s.db.keys.Key(keyID(gen))); err != nil {
			return fmt.Errorf("seal key: %w", err)
		}
	}
	rec := keyRecord{
		Gen:        gen,
		KID:        thumbprint(&priv.PublicKey),
		PrivateKey: keyText,
		CreatedAt:  s.cfg.Now().UTC(),
	}
	ops := append([]store.Op{s.db.keys.PutIfAbsentOp(keyID(gen), rec)}, more...)
	return s.cfg.Store.Apply(ctx, ops...)
}

// RotateKey makes a new signing key the active one. Tokens signed by older keys
// stay valid until they expire: every key stays in the store (and in JWKS) until
// TokenTTL after it was replaced, and is removed by a later rotation. Two masters
// rotating at once create one new key between them.
func (s *Service) RotateKey(ctx context.Context) error {
	if _, err := s.reload(ctx); err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	sn := s.snap.Load()
	cur := sn.active()
	now := s.cfg.Now().UTC()
	retired := cur.rec
	retired.RetiredAt = now
	e, err := s.db.keys.GetEntry(ctx, keyID(cur.rec.Gen))
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	// The old key is marked retired only if nobody changed it meanwhile.
	ops := []store.Op{s.db.keys.PutIfRevisionOp(keyID(cur.rec.Gen), retired, e.ModRevision)}
	// Keys replaced longer ago than a token lives verify nothing any more.
	for _, k := range sn.keyOrder[:len(sn.keyOrder)-1] {
		if !k.rec.RetiredAt.IsZero() && now.Sub(k.rec.RetiredAt) > s.cfg.TokenTTL+s.cfg.ClockLeeway {
			ops = append(ops, s.db.keys.DeleteOp(keyID(k.rec.Gen)))
		}
	}
	err = s.addKey(ctx, cur.rec.Gen+1, ops...)
	if errors.Is(err, store.ErrConflict) {
		// Another master rotated at the same moment; its new key is as new.
		s.log.Info("signing key rotated by another master")
		err = nil
	}
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	if _, err := s.reload(ctx); err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	return nil
}

// jwk is one RSA public key in a JWKS (RFC 7517/7518).
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS returns the JSON Web Key Set of every key that verifies tokens, newest
// first.
func (s *Service) JWKS() []byte {
	sn := s.snap.Load()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for i := len(sn.keyOrder) - 1; i >= 0; i-- {
		k := sn.keyOrder[i]
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Alg: "RS256", Use: "sig", Kid: k.kid,
			N: b64(k.pub.N.Bytes()), E: b64(big.NewInt(int64(k.pub.E)).Bytes()),
		})
	}
	out, _ := json.Marshal(set) // cannot fail: strings only
	return out
}

func isPEM(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN ") }

// sealPlainKeys re-writes every signing key stored in the clear sealed with
// the Sealer, each only if nobody changed it meanwhile (a master migrating
// at the same time wins and its write stands). It returns how many it sealed.
func (s *Service) sealPlainKeys(ctx context.Context) (int, error) {
	entries, _, err := s.db.keys.Entries(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !isPEM(e.Value.PrivateKey) {
			continue
		}
		rec := e.Value
		if rec.PrivateKey, err = s.db.sealer.Seal([]byte(rec.PrivateKey), s.db.keys.Key(e.ID)); err != nil {
			return n, err
		}
		err := s.cfg.Store.Apply(ctx, s.db.keys.PutIfRevisionOp(e.ID, rec, e.ModRevision))
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
