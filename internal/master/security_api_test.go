package master

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestSecurityAPIStrict: in strict security the join-token and revocation
// endpoints answer 401 without a token and 403 to a user who is not a
// superuser; the superuser reads and rotates the token; bad bodies get 400
// and unknown IDs 404, in the {"message"} shape.
func TestSecurityAPIStrict(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("Correct-Horse-9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Security = "strict"
	cfg.Superuser = "admin"
	cfg.SuperuserPasswordFile = pw
	m := startNodes(t, []Config{cfg})[0].m
	ar := m.AdminRouterURL()
	admin := login(t, ar, "admin", "Correct-Horse-9")
	if code, body := call(t, "PUT", ar+"/acs/api/v1/users/bob", admin, `{"description": "Bob", "password": "Bobs-Pass-123"}`); code != http.StatusCreated {
		t.Fatalf("create bob: %d %s", code, body)
	}
	bob := login(t, ar, "bob", "Bobs-Pass-123")

	for _, c := range []struct{ method, path, body string }{
		{"GET", JoinTokenPath, ""},
		{"POST", JoinTokenRotatePath, `{}`},
		{"POST", RevokePath, `{"id":"ab"}`},
	} {
		if code, _ := call(t, c.method, ar+c.path, "", c.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", c.method, c.path, code)
		}
		if code, body := call(t, c.method, ar+c.path, bob, c.body); code != http.StatusForbidden || !strings.Contains(body, `"message"`) {
			t.Errorf("%s %s as bob: %d %s, want 403", c.method, c.path, code, body)
		}
	}
	code, body := call(t, "GET", ar+JoinTokenPath, admin, "")
	var got struct{ Token string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Token != m.JoinToken().Encode() {
		t.Fatalf("GET join token as admin: %d", code)
	}
	code, body = call(t, "POST", ar+JoinTokenRotatePath, admin, `{"grace_seconds": 60}`)
	var rot struct{ Token string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rot) != nil || rot.Token == got.Token {
		t.Fatalf("rotate as admin: %d", code)
	}
	if _, err := pki.ParseJoinToken(rot.Token); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{JoinTokenRotatePath, `{"grace_seconds": -1}`, http.StatusBadRequest},
		{JoinTokenRotatePath, `{"grace": "1m"}`, http.StatusBadRequest},
		{RevokePath, `{}`, http.StatusBadRequest},
		{RevokePath, `{"id": "not-an-agent"}`, http.StatusNotFound},
	} {
		if code, body := call(t, "POST", ar+c.path, admin, c.body); code != c.want || !strings.Contains(body, `"message"`) {
			t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, code, body, c.want)
		}
	}
}
