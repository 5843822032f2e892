package iam

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyToken: whatever the input, VerifyToken does not panic, and it
// accepts only the tokens the Service itself issued (strict base64 leaves no
// second spelling of a signature).
func FuzzVerifyToken(f *testing.F) {
	st := storetest.Open(f)
	s := newService(f, st, newClock())
	if _, err := s.EnsureSuperuser(f.Context(), "root", "root-password"); err != nil {
		f.Fatal(err)
	}
	valid, err := s.IssueToken("root")
	if err != nil {
		f.Fatal(err)
	}
	k := s.snap.Load().active()
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"uid": "root", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(valid)
	f.Add(none)
	f.Add(sign(f, k.priv, k.kid, jwt.MapClaims{"uid": "root", "iss": "other", "exp": time.Now().Add(time.Hour).Unix()}))
	f.Add(strings.Replace(valid, ".", ".e30.", 1))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ.eyJ1aWQiOiJyb290In0.c2ln")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := s.VerifyToken(tok)
		if err == nil && tok != valid {
			t.Fatalf("accepted a token the Service did not issue: %q → %+v", tok, p)
		}
	})
}

// FuzzTokenFromRequest: any Authorization header or cookie is read without
// panicking, and what comes back as the token is taken from one of them.
func FuzzTokenFromRequest(f *testing.F) {
	f.Add("token=abc", "")
	f.Add("Bearer abc", "")
	f.Add("", "abc")
	f.Add("token=", "x")
	f.Add("Basic Zm9vOmJhcg==", "")
	f.Add("bearer", "")
	f.Fuzz(func(t *testing.T, header, cookie string) {
		r := &httpRequestBuilder{header: header, cookie: cookie}
		tok, err := tokenFromRequest(r.build())
		if err != nil {
			if !errors.Is(err, ErrNoToken) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !strings.Contains(header, tok) && !strings.Contains(cookie, tok) {
			t.Fatalf("token %q is in neither header %q nor cookie %q", tok, header, cookie)
		}
	})
}

// FuzzDecodeLogin: the login body decoder never panics and accepts only a uid
// with exactly one of password and token.
func FuzzDecodeLogin(f *testing.F) {
	f.Add([]byte(`{"uid":"alice","password":"pw"}`))
	f.Add([]byte(`{"uid":"svc","token":"a.b.c"}`))
	f.Add([]byte(`{"token":"oidc"}`))
	f.Add([]byte(`{"uid":"a","password":"b","token":"c"}`))
	f.Add([]byte(`{"uid":"a","password":"b"} {}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Add([]byte(`{"uid":"\u0000","password":"\ud800"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeLogin(body)
		if err != nil {
			if _, ok := err.(*invalidError); !ok {
				t.Fatalf("error %T %v is not a 400", err, err)
			}
			return
		}
		if req.UID == "" || len(req.UID) > maxIDLen || (req.Password == "") == (req.Token == "") {
			t.Fatalf("accepted %+v from %q", req, body)
		}
	})
}

// FuzzValidateIDs: an accepted uid or gid is one store key segment of allowed
// characters; an accepted rid survives the URL escaping of store keys and
// links.
func FuzzValidateIDs(f *testing.F) {
	for _, s := range []string{"alice", "bootstrapuser", "a", "Alice", "a/b", "..", "-x", "svc.acct@corp", "dcos:adminrouter:service:marathon",
		"dcos:service:marathon:marathon:services:/prod", "dcos:secrets:default:/a/*", "has space", "%2F", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for name, validate := range map[string]func(string) error{"uid": ValidateUID, "gid": ValidateGID} {
			if validate(id) != nil {
				continue
			}
			if strings.ContainsAny(id, "/%: \x00") || id != strings.ToLower(id) || id == "." || id == ".." || len(id) > maxIDLen {
				t.Fatalf("%s %q accepted", name, id)
			}
			if url.PathEscape(id) != id {
				t.Fatalf("%s %q needs escaping in a URL", name, id)
			}
		}
		if ValidateRID(id) == nil {
			back, err := url.PathUnescape(escRID(id))
			if err != nil || back != id || strings.Contains(escRID(id), "/") {
				t.Fatalf("rid %q escapes to %q", id, escRID(id))
			}
		}
	})
}

// FuzzParsePHC: stored hashes are parsed without panicking, and accepted
// parameters stay within the bounds that keep one login affordable.
func FuzzParsePHC(f *testing.F) {
	h, _ := hashPassword("pw", cheapArgon2)
	f.Add(h)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$2a$10$abcdefghijklmnopqrstuu")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.params.MemoryKiB > argonMaxMemoryKiB || p.params.Time > argonMaxTime || p.params.Time == 0 || p.params.Threads == 0 || len(p.sum) > 64 {
			t.Fatalf("accepted %q with %+v", s, p.params)
		}
	})
}
