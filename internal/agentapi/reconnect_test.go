package agentapi_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
)

// refusedURL returns the base URL of a loopback port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// subscribe opens a stream to master the way both agents do.
func subscribe(t *testing.T, master string) (string, error) {
	t.Helper()
	ctx := t.Context()
	resp, base, err := agentapi.OpenStream(ctx, http.DefaultClient, master, agentapi.Call{Type: agentapi.CallSubscribe}, 10*time.Second, func() {})
	if err == nil {
		resp.Body.Close()
	}
	return base, err
}

func noJitter(d time.Duration) time.Duration { return d }

func TestReconnectSkipsRefusedMasterAtOnce(t *testing.T) {
	dead := refusedURL(t)
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
	}))
	defer standby.Close()

	rc := agentapi.NewReconnect([]string{dead, standby.URL}, 0, 100*time.Millisecond, time.Second, noJitter)
	// The stream from the dead leader was lost: it is tried first, after the minimum wait.
	if d := rc.Lost(dead); d != 100*time.Millisecond {
		t.Fatalf("wait after a lost stream = %s, want 100ms", d)
	}
	m := rc.Next()
	if m != dead {
		t.Fatalf("first attempt after a lost stream at %s went to %s", dead, m)
	}
	_, err := subscribe(t, m)
	if err == nil {
		t.Fatal("subscribe to a closed port succeeded")
	}
	if d := rc.Failed(m, err); d != 0 {
		t.Fatalf("wait after %s refused = %s, want 0 (another master is untried): %v", m, d, err)
	}
	// The standby answers 503: it is tried, and the waits double up to the cap; the dead master is skipped.
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		m := rc.Next()
		if m != standby.URL {
			t.Fatalf("attempt %d went to %s, want the live standby %s", i, m, standby.URL)
		}
		_, err := subscribe(t, m)
		if err == nil {
			t.Fatal("subscribe to a standby answering 503 succeeded")
		}
		if d := rc.Failed(m, err); d != w {
			t.Fatalf("wait after failure %d = %s, want %s", i, d, w)
		}
	}
}

func TestReconnectRedirectToRefusedLeaderBacksOff(t *testing.T) {
	dead := refusedURL(t)
	stale := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", dead+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer stale.Close()
	rc := agentapi.NewReconnect([]string{stale.URL, dead}, 0, 100*time.Millisecond, time.Second, noJitter)
	m := rc.Next()
	if m != stale.URL {
		t.Fatalf("first attempt went to %s, want %s", m, stale.URL)
	}
	_, err := subscribe(t, m)
	if err == nil {
		t.Fatal("subscribe through a redirect to a closed port succeeded")
	}
	// The standby that redirected is alive: no immediate retry (that would spin while its view is stale).
	if d := rc.Failed(m, err); d != 100*time.Millisecond {
		t.Fatalf("wait after a redirect to a refused leader = %s, want 100ms: %v", d, err)
	}
	// The refused redirect target is skipped as a direct target.
	for i := range 3 {
		if m := rc.Next(); m != stale.URL {
			t.Fatalf("attempt %d went to %s, want %s (the refused leader is skipped)", i, m, stale.URL)
		}
	}
}

func TestReconnectAllRefusedBacksOffAndRetriesAll(t *testing.T) {
	a, b := refusedURL(t), refusedURL(t)
	rc := agentapi.NewReconnect([]string{a, b}, 1, 100*time.Millisecond, 300*time.Millisecond, noJitter)
	var waits []time.Duration
	seen := map[string]int{}
	for range 6 {
		m := rc.Next()
		seen[m]++
		_, err := subscribe(t, m)
		if err == nil {
			t.Fatal("subscribe to a closed port succeeded")
		}
		waits = append(waits, rc.Failed(m, err))
	}
	if seen[a] != 3 || seen[b] != 3 {
		t.Fatalf("attempts per master = %v, want 3 each", seen)
	}
	want := []time.Duration{0, 100 * time.Millisecond, 0, 200 * time.Millisecond, 0, 300 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits = %v, want %v", waits, want)
		}
	}
}

func TestReconnectFollowsLeaderAfterLoss(t *testing.T) {
	rc := agentapi.NewReconnect([]string{"http://m1", "http://m2", "http://m3"}, 2, time.Second, 4*time.Second, nil)
	if m := rc.Next(); m != "http://m3" {
		t.Fatalf("first attempt went to %s, want the start index's master http://m3", m)
	}
	// A failure that is not a refused connection backs off; the jittered wait stays in [d/2, d].
	if d := rc.Failed("http://m3", errors.New("subscribe: 503")); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("jittered wait %s outside [500ms, 1s]", d)
	}
	if d := rc.Lost("http://m2"); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("jittered wait after a lost stream %s outside [500ms, 1s]", d)
	}
	for range 2 {
		if m := rc.Next(); m != "http://m2" {
			t.Fatalf("attempt after losing the stream of http://m2 went to %s", m)
		}
	}
	rc.Failed("http://m2", errors.New("subscribe: 503"))
	if m := rc.Next(); m == "http://m2" {
		t.Fatal("a preferred master that failed is still preferred")
	}
}

// FuzzReconnectFailed feeds Failed the URL a redirect named (a master's
// Location header, outside input): Next must keep returning one of the
// masters or the one that last served, and waits must stay within the cap.
func FuzzReconnectFailed(f *testing.F) {
	f.Add("http://127.0.0.1:1/internal/agent/v1", true)
	f.Add("http://m1/internal/agent/v1", false)
	f.Add("::not a url", true)
	f.Add("", false)
	f.Add("https://[::1]:5050/x?y#z", true)
	f.Fuzz(func(t *testing.T, target string, refused bool) {
		masters := []string{"http://m1", "http://m2"}
		rc := agentapi.NewReconnect(masters, 0, 10*time.Millisecond, 40*time.Millisecond, noJitter)
		rc.Lost("http://leader")
		var cause error = errors.New("503")
		if refused {
			cause = syscall.ECONNREFUSED
		}
		for range 5 {
			m := rc.Next()
			if m != "http://m1" && m != "http://m2" && m != "http://leader" {
				t.Fatalf("Next returned %q", m)
			}
			d := rc.Failed(m, &url.Error{Op: "Post", URL: target, Err: cause})
			if d < 0 || d > 40*time.Millisecond {
				t.Fatalf("wait %s outside [0, 40ms]", d)
			}
		}
	})
}

// TestReconnectRedirectOverTLSNamesConfiguredMaster: a standby reached over
// TLS redirects to the leader's https URL; a refusal there counts against
// the configured (http) entry of that master, which is then skipped.
func TestReconnectRedirectOverTLSNamesConfiguredMaster(t *testing.T) {
	dead := refusedURL(t)
	stale := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://"+strings.TrimPrefix(dead, "http://")+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer stale.Close()
	rc := agentapi.NewReconnect([]string{stale.URL, dead}, 0, 100*time.Millisecond, time.Second, noJitter)
	m := rc.Next()
	_, err := subscribe(t, m)
	if err == nil {
		t.Fatal("subscribe through a redirect to a closed port succeeded")
	}
	if d := rc.Failed(m, err); d != 100*time.Millisecond {
		t.Fatalf("wait after a redirect to a refused leader = %s, want 100ms: %v", d, err)
	}
	for i := range 3 {
		if m := rc.Next(); m != stale.URL {
			t.Fatalf("attempt %d went to %s, want %s (the refused leader is skipped)", i, m, stale.URL)
		}
	}
}
