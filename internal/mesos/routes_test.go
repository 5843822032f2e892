package mesos

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// TestLeaderURLKeepsTLS: a request that came over TLS is redirected to the
// leader's https URL; a plain one to the URL as advertised.
func TestLeaderURLKeepsTLS(t *testing.T) {
	for _, tc := range []struct {
		tls       bool
		url, want string
	}{
		{false, "http://10.0.0.1:5050", "http://10.0.0.1:5050"},
		{true, "http://10.0.0.1:5050", "https://10.0.0.1:5050"},
		{true, "https://10.0.0.1:5050", "https://10.0.0.1:5050"},
	} {
		r := httptest.NewRequest("GET", "/master/redirect", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{HandshakeComplete: true}
		}
		if got := leaderURLFor(r, tc.url); got != tc.want {
			t.Errorf("tls=%v %s: %s, want %s", tc.tls, tc.url, got, tc.want)
		}
	}
}
