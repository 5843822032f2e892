package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAdminRouterReachesAService runs real basalt processes (one master,
// one posix agent): through the master's Admin Router, Marathon launches a
// real HTTP server (this test binary as a task) labelled as a DC/OS service,
// and /service/<name>/ reaches it; /mesos/ and /metadata answer too.
func TestAdminRouterReachesAService(t *testing.T) {
	b := buildBins(t)
	c := startCluster(t, b, 1, 1)
	ar := c.Masters[0].AdminRouterURL
	ctx := t.Context()

	app := fmt.Sprintf(`{
	  "id": "/tools/web", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 1,
	  "portDefinitions": [{"port": 0, "name": "http"}],
	  "labels": {"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_SCHEME": "http", "DCOS_SERVICE_PORT_INDEX": "0"}
	}`, roleEnv+"=backend exec "+os.Args[0])
	if st, body := marathonDo(ctx, "POST", ar+"/service/marathon/v2/apps", app); st != http.StatusCreated {
		t.Fatalf("POST /service/marathon/v2/apps = %d %s", st, body)
	}
	waitFor(t, 60*time.Second, "the app's web server through /service/web/", func(ctx context.Context) error {
		st, body := marathonDo(ctx, "GET", ar+"/service/web/", "")
		if st != http.StatusOK || !strings.HasPrefix(string(body), "tools_web.") {
			return fmtErr("GET /service/web/ = %d %q", st, body)
		}
		return nil
	})
	st, body := marathonDo(ctx, "GET", ar+"/mesos/master/state", "")
	var state struct{ Slaves []any }
	if st != http.StatusOK || json.Unmarshal(body, &state) != nil || len(state.Slaves) != 1 {
		t.Errorf("GET /mesos/master/state = %d %.200s", st, body)
	}
	st, body = marathonDo(ctx, "GET", ar+"/metadata", "")
	var md struct{ PUBLIC_IPV4, CLUSTER_ID string }
	if st != http.StatusOK || json.Unmarshal(body, &md) != nil || md.CLUSTER_ID == "" || md.PUBLIC_IPV4 != c.Masters[0].IP {
		t.Errorf("GET /metadata = %d %s", st, body)
	}
}
