package clustertest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestJoinTokenRotation: after a rotation through Admin Router the new
// token joins at once, the old one joins during the grace period and is
// refused after it, and an agent that joined before keeps working (its
// certificate does not depend on the secret).
func TestJoinTokenRotation(t *testing.T) {
	c := New(t, Options{Masters: 1, Agents: 1, AgentMTLS: true, NoDNS: true})
	m := c.Masters[0].Master()
	old := m.JoinToken()

	rotate := func(grace int) pki.JoinToken {
		t.Helper()
		resp, err := http.Post(m.AdminRouterURL()+"/basalt/v1/join-token/rotate", "application/json",
			strings.NewReader(`{"grace_seconds":`+itoa(grace)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Token string `json:"token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("rotate: %s", resp.Status)
		}
		tok, err := pki.ParseJoinToken(out.Token)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	join := func(tok pki.JoinToken) error {
		_, err := pki.Join(t.Context(), m.AdminRouterTLSURL(), tok, "probe", nil)
		return err
	}
	refused := func(err error) bool {
		var se *pki.JoinStatusError
		return errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized
	}

	fresh := rotate(2)
	if fresh.Secret == old.Secret || fresh.CAHash != old.CAHash {
		t.Fatal("rotation kept the secret or changed the CA")
	}
	if m.JoinToken().Secret != fresh.Secret {
		t.Error("the master's JoinToken is not the new one")
	}
	if err := join(fresh); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if err := join(old); err != nil {
		t.Fatalf("old token within its grace period: %v", err)
	}
	Eventually(t, 20*time.Second, func() error {
		if err := join(old); !refused(err) {
			return errorf("old token after its grace period: %v", err)
		}
		return nil
	})
	// Rotating again with no grace refuses the previous token at once.
	newest := rotate(0)
	if err := join(fresh); !refused(err) {
		t.Fatalf("token rotated out with no grace: %v, want 401", err)
	}
	if err := join(newest); err != nil {
		t.Fatal(err)
	}
	// The agent that joined with the first token is still registered and
	// its stream (mTLS) still works.
	c.WaitAgentsActive(1)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
