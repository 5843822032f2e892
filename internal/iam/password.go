package iam

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params is the cost of an argon2id password hash.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 follows the OWASP recommendation for argon2id (m=46 MiB, t=1,
// p=1). BenchmarkLogin reports what one login costs with it.
var DefaultArgon2 = Argon2Params{MemoryKiB: 46 * 1024, Time: 1, Threads: 1} // read-only

// Bounds on parameters read from a stored hash, so that a corrupt or hostile
// record cannot make one login allocate gigabytes or spin for minutes.
const (
	argonMaxMemoryKiB = 1 << 20 // 1 GiB
	argonMaxTime      = 64
	argonSaltLen      = 16
	argonKeyLen       = 32
	maxPasswordLen    = 1024
)

func (p Argon2Params) check() error {
	if p.MemoryKiB < 8*uint32(max(p.Threads, 1)) || p.MemoryKiB > argonMaxMemoryKiB {
		return fmt.Errorf("argon2 memory %d KiB out of range", p.MemoryKiB)
	}
	if p.Time < 1 || p.Time > argonMaxTime {
		return fmt.Errorf("argon2 time %d out of range", p.Time)
	}
	if p.Threads < 1 {
		return errors.New("argon2 threads must be at least 1")
	}
	return nil
}

// hashPassword returns the argon2id hash of pw as a PHC string:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash> (unpadded base64).
func hashPassword(pw string, p Argon2Params) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params Argon2Params
	salt   []byte
	sum    []byte
}

// parsePHC parses an argon2id PHC string, rejecting parameters outside sane
// bounds.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errors.New("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("argon2 version %q not supported", parts[2])
	}
	var out phc
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return phc{}, fmt.Errorf("argon2 parameter %q malformed", kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phc{}, fmt.Errorf("argon2 parameter %q: %w", kv, err)
		}
		switch k {
		case "m":
			out.params.MemoryKiB = uint32(n)
		case "t":
			out.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, fmt.Errorf("argon2 threads %d out of range", n)
			}
			out.params.Threads = uint8(n)
		default:
			return phc{}, fmt.Errorf("argon2 parameter %q unknown", k)
		}
	}
	if len(seen) != 3 {
		return phc{}, errors.New("argon2 parameters m, t and p are all required")
	}
	if err := out.params.check(); err != nil {
		return phc{}, err
	}
	var err error
	if out.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(out.salt) < 8 {
		return phc{}, errors.New("argon2 salt malformed")
	}
	if out.sum, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(out.sum) < 16 || len(out.sum) > 64 {
		return phc{}, errors.New("argon2 hash malformed")
	}
	return out, nil
}

// checkPassword reports whether pw matches hash, an argon2id PHC string or a
// bcrypt hash ($2a$, $2b$, $2y$). Comparisons are constant-time.
func checkPassword(hash, pw string) (bool, error) {
	if len(pw) > maxPasswordLen {
		return false, nil
	}
	if strings.HasPrefix(hash, "$2") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	h, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	sum := argon2.IDKey([]byte(pw), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.sum)))
	return subtle.ConstantTimeCompare(sum, h.sum) == 1, nil
}

// randomPassword returns a one-time password with 144 bits of entropy.
func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
