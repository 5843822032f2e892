package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/proccluster"
)

// TestAdminRouterReachesAService runs real basalt processes (one master in
// strict security, one posix agent): a client without a token is refused
// the way dcos clients expect, logs in as the bootstrap superuser, and with
// the token Marathon launches a real HTTP server (this test binary as a
// task) labelled as a DC/OS service, /service/<name>/ reaches it, and
// /mesos/ and /metadata answer too.
func TestAdminRouterReachesAService(t *testing.T) {
	b := buildBins(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-Passw0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startClusterAs(t, b, &proccluster.Login{UID: "admin", Password: "s3cret-Passw0rd"}, 1, 1, "--security", "strict", "--superuser", "admin", "--superuser-password-file", pwFile)
	ar := c.Masters[0].AdminRouterURL
	ctx := t.Context()

	// How dcos clients probe a cluster: 401 with the acsjwt challenge.
	req, _ := http.NewRequestWithContext(ctx, "HEAD", ar+"/pkgpanda/active.buildinfo.full.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "acsjwt" {
		t.Fatalf("HEAD buildinfo without a token = %d %q, want 401 acsjwt", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if st, _ := authDo(ctx, "GET", ar+"/service/marathon/v2/apps", "", ""); st != http.StatusUnauthorized {
		t.Fatalf("GET /service/marathon/v2/apps without a token = %d", st)
	}
	if st, body := authDo(ctx, "POST", ar+"/acs/api/v1/auth/login", "", `{"uid": "admin", "password": "wrong"}`); st != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password = %d %s", st, body)
	}
	st, body := authDo(ctx, "POST", ar+"/acs/api/v1/auth/login", "", `{"uid": "admin", "password": "s3cret-Passw0rd"}`)
	var login struct{ Token string }
	if st != http.StatusOK || json.Unmarshal(body, &login) != nil || login.Token == "" {
		t.Fatalf("login = %d %s", st, body)
	}
	tok := login.Token

	app := fmt.Sprintf(`{
	  "id": "/tools/web", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 1,
	  "portDefinitions": [{"port": 0, "name": "http"}],
	  "labels": {"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_SCHEME": "http", "DCOS_SERVICE_PORT_INDEX": "0"}
	}`, roleEnv+"=backend exec "+os.Args[0])
	if st, body := authDo(ctx, "POST", ar+"/service/marathon/v2/apps", tok, app); st != http.StatusCreated {
		t.Fatalf("POST /service/marathon/v2/apps = %d %s", st, body)
	}
	waitFor(t, 60*time.Second, "the app's web server through /service/web/", func(ctx context.Context) error {
		st, body := authDo(ctx, "GET", ar+"/service/web/", tok, "")
		if st != http.StatusOK || !strings.HasPrefix(string(body), "tools_web.") {
			return fmtErr("GET /service/web/ = %d %q", st, body)
		}
		return nil
	})
	st, body = authDo(ctx, "GET", ar+"/mesos/master/state", tok, "")
	var state struct{ Slaves []any }
	if st != http.StatusOK || json.Unmarshal(body, &state) != nil || len(state.Slaves) != 1 {
		t.Errorf("GET /mesos/master/state = %d %.200s", st, body)
	}
	st, body = authDo(ctx, "GET", ar+"/metadata", tok, "")
	var md struct{ PUBLIC_IPV4, CLUSTER_ID string }
	if st != http.StatusOK || json.Unmarshal(body, &md) != nil || md.CLUSTER_ID == "" || md.PUBLIC_IPV4 != c.Masters[0].IP {
		t.Errorf("GET /metadata = %d %s", st, body)
	}
}

// authDo is marathonDo with a DC/OS token ("" sends none).
func authDo(ctx context.Context, method, url, token, body string) (int, []byte) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token="+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}
