package gomarathon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"

	"github.com/basalt-dcos/basalt/internal/clustertest"
)

// waitFor bounds every wait for the cluster to converge; it is a deadline,
// not a timing assertion.
const waitFor = 30 * time.Second

// env is a cluster and a go-marathon client pointed at its Marathon leader.
type env struct {
	c    *clustertest.Cluster
	cli  marathon.Marathon
	wire *wireLog
	url  string // the Marathon base URL the client uses
}

// start runs a cluster of one master and two fake agents and connects a
// go-marathon client (SSE events transport) to its Marathon.
//
// sse tells whether the test opens go-marathon's event stream: go-marathon
// starts a goroutine for it that never ends (it has no way to close the
// stream), so such a test turns the cluster's goroutine-leak check off and,
// at cleanup, cuts the stream's connection and refuses new ones, so that its
// retries can never reach a later test's cluster.
func start(t *testing.T, sse bool) *env {
	t.Helper()
	c := clustertest.New(t, clustertest.Options{Masters: 1, Agents: 2, NoLeakCheck: sse})
	leader := c.MarathonLeader()

	wire := &wireLog{t: t}
	t.Cleanup(wire.close)
	d := &gateDialer{conns: map[net.Conn]struct{}{}}
	tr := &http.Transport{
		DialContext: d.dial,
		// No client timeout: the event stream is one long response.
		ResponseHeaderTimeout: 15 * time.Second,
	}
	t.Cleanup(func() {
		d.shut()
		tr.CloseIdleConnections()
	})
	cli, err := marathon.NewClient(marathon.Config{
		URL:             leader.MarathonURL(),
		EventsTransport: marathon.EventsTransportSSE,
		HTTPClient:      &http.Client{Transport: tr},
		LogOutput:       wire,
		PollingWaitTime: 25 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("marathon.NewClient: %v", err)
	}
	e := &env{c: c, cli: cli, wire: wire, url: leader.MarathonURL()}
	// The Marathon framework must be registered before apps can launch.
	clustertest.Eventually(t, waitFor, func() error {
		info, err := cli.Info()
		if err != nil {
			return err
		}
		if info.FrameworkID == "" {
			return errors.New("Marathon has no framework id yet")
		}
		return nil
	})
	return e
}

// must fails t when err is not nil, showing the last exchanges go-marathon
// logged (request, status and body), which is where a wire mismatch shows.
func (e *env) must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\nlast exchanges (go-marathon debug log):\n%s", what, err, e.wire.tail(4))
	}
}

// wait waits for deployment id to finish, through go-marathon.
func (e *env) wait(t *testing.T, what, id string) {
	t.Helper()
	if id == "" {
		t.Fatalf("%s: no deployment id", what)
	}
	e.must(t, fmt.Sprintf("%s: WaitOnDeployment(%s)", what, id), e.cli.WaitOnDeployment(id, waitFor))
}

// eventually polls cond, like clustertest.Eventually, adding the wire log to
// the failure.
func (e *env) eventually(t *testing.T, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	var err error
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if err = cond(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met after %v: %v\nlast exchanges:\n%s", waitFor, err, e.wire.tail(3))
		case <-time.After(wait):
		}
	}
}

// runningTasks waits until app id has exactly n tasks, all TASK_RUNNING, and
// returns them.
func (e *env) runningTasks(t *testing.T, id string, n int) []marathon.Task {
	t.Helper()
	var out []marathon.Task
	e.eventually(t, func() error {
		ts, err := e.cli.Tasks(id)
		if err != nil {
			return err
		}
		if len(ts.Tasks) != n {
			return fmt.Errorf("%s has %d tasks, want %d", id, len(ts.Tasks), n)
		}
		for _, task := range ts.Tasks {
			if task.State != "TASK_RUNNING" {
				return fmt.Errorf("task %s is %s", task.ID, task.State)
			}
		}
		out = ts.Tasks
		return nil
	})
	return out
}

func taskIDs(ts []marathon.Task) []string {
	var ids []string
	for _, task := range ts {
		ids = append(ids, task.ID)
	}
	slices.Sort(ids)
	return ids
}

func isNotFound(err error) bool {
	var apiErr *marathon.APIError
	return errors.As(err, &apiErr) && apiErr.ErrCode == marathon.ErrCodeNotFound
}

// newApp is a small app the fake runtime runs until killed.
func newApp(id string, instances int) *marathon.Application {
	app := marathon.NewDockerApplication()
	app.Container = nil // the fake runtime runs any command task
	app.Name(id).Command("sleep 1000").CPU(0.1).Memory(32).Count(instances)
	return app
}

// deploymentOf returns the id of the single deployment an app answer carries.
func deploymentOf(t *testing.T, app *marathon.Application) string {
	t.Helper()
	ids := app.DeploymentIDs()
	if len(ids) != 1 {
		t.Fatalf("app %s carries %d deployments, want 1: %v", app.ID, len(ids), app.Deployments)
	}
	return ids[0].DeploymentID
}

// The life of an app: create with labels and env, wait, list with filters,
// read, tasks, scale, kill, update, versions, rollback, restart, delete.
func TestAppLifecycle(t *testing.T) {
	e := start(t, false)
	cli := e.cli
	const web, worker = "/gm/web", "/gm/worker"

	var created *marathon.Application
	t.Run("create", func(t *testing.T) {
		app := newApp(web, 2)
		app.AddLabel("tier", "web").AddLabel("team", "core").AddEnv("GREETING", "hello").AddEnv("MODE", "blue")
		res, err := cli.CreateApplication(app)
		e.must(t, "CreateApplication", err)
		created = res
		if res.ID != web || res.Instances == nil || *res.Instances != 2 || res.CPUs != 0.1 || res.Mem == nil || *res.Mem != 32 {
			t.Errorf("created app: id %q instances %v cpus %v mem %v", res.ID, res.Instances, res.CPUs, res.Mem)
		}
		if res.Labels == nil || (*res.Labels)["tier"] != "web" || (*res.Labels)["team"] != "core" {
			t.Errorf("created app labels = %v", res.Labels)
		}
		if res.Env == nil || (*res.Env)["GREETING"] != "hello" {
			t.Errorf("created app env = %v", res.Env)
		}
		if res.Version == "" {
			t.Error("created app has no version")
		}
		e.wait(t, "create "+web, deploymentOf(t, res))
		e.runningTasks(t, web, 2)
		// WaitOnApplication polls GET /v2/apps/{id} until it carries
		// "tasks" and tasksRunning == instances; Marathon embeds tasks,
		// counts, deployments and lastTaskFailure there without ?embed.
		if err := cli.WaitOnApplication(web, 2*time.Second); err != nil {
			t.Errorf("WaitOnApplication of an app whose 2 tasks run: %v\n%s", err, e.wire.tail(1))
		}

		// A second app to filter against.
		w := newApp(worker, 1)
		w.AddLabel("tier", "worker")
		w.Command("sleep 2000 --worker")
		wres, err := cli.CreateApplication(w)
		e.must(t, "CreateApplication worker", err)
		e.wait(t, "create "+worker, deploymentOf(t, wres))
	})
	if created == nil {
		t.FailNow()
	}

	t.Run("get", func(t *testing.T) {
		app, err := cli.Application(web)
		e.must(t, "Application", err)
		if app.ID != web || app.Cmd == nil || *app.Cmd != "sleep 1000" || app.Instances == nil || *app.Instances != 2 {
			t.Errorf("app = id %q cmd %v instances %v", app.ID, app.Cmd, app.Instances)
		}
		if app.TasksRunning != 2 || len(app.Tasks) != 2 {
			t.Errorf("app has tasksRunning %d and %d embedded tasks, want 2 and 2", app.TasksRunning, len(app.Tasks))
		}
		if len(app.Deployments) != 0 {
			t.Errorf("app still lists deployments %v", app.Deployments)
		}
		if app.Version != created.Version {
			t.Errorf("version %q, created as %q", app.Version, created.Version)
		}
		if app.VersionInfo == nil || app.VersionInfo.LastConfigChangeAt == "" {
			t.Errorf("versionInfo = %+v", app.VersionInfo)
		}
		if app.Env == nil || (*app.Env)["MODE"] != "blue" {
			t.Errorf("env = %v", app.Env)
		}
		// go-marathon's own health verdict: all tasks running, no checks.
		ok, err := cli.ApplicationOK(web)
		e.must(t, "ApplicationOK", err)
		if !ok {
			t.Error("ApplicationOK = false for an app with all tasks running")
		}

		stats, err := cli.ApplicationBy(web, &marathon.GetAppOpts{Embed: []string{"app.taskStats"}})
		e.must(t, "ApplicationBy(embed app.taskStats)", err)
		if sum, ok := stats.TaskStats["totalSummary"]; stats.ID != web || !ok || sum.Stats.Counts["running"] != 2 {
			t.Errorf("ApplicationBy(embed app.taskStats): id %q taskStats %+v\n%s", stats.ID, stats.TaskStats, e.wire.tail(1))
		}

		_, err = cli.Application("/gm/nope")
		if !isNotFound(err) {
			t.Errorf("Application of an unknown id: %v, want a 404 APIError", err)
		}
	})

	t.Run("list with filters", func(t *testing.T) {
		cases := []struct {
			name  string
			query url.Values
			want  []string
		}{
			{"all", nil, []string{web, worker}},
			{"label equals", url.Values{"label": {"tier==web"}}, []string{web}},
			{"label exists", url.Values{"label": {"team"}}, []string{web}},
			{"label not equals", url.Values{"label": {"tier!=web"}}, []string{worker}},
			{"label in", url.Values{"label": {"tier in (web, worker)"}}, []string{web, worker}},
			{"id substring", url.Values{"id": {"work"}}, []string{worker}},
			{"cmd substring", url.Values{"cmd": {"--worker"}}, []string{worker}},
			{"no match", url.Values{"label": {"tier==db"}}, nil},
		}
		for _, tc := range cases {
			ids, err := cli.ListApplications(tc.query)
			e.must(t, "ListApplications "+tc.name, err)
			slices.Sort(ids)
			if !slices.Equal(ids, tc.want) {
				t.Errorf("%s (%v): %v, want %v", tc.name, tc.query, ids, tc.want)
			}
		}
		apps, err := cli.Applications(url.Values{"embed": {"apps.tasks", "apps.counts"}, "label": {"tier==web"}})
		e.must(t, "Applications(embed)", err)
		if len(apps.Apps) != 1 || len(apps.Apps[0].Tasks) != 2 || apps.Apps[0].TasksRunning != 2 {
			t.Errorf("Applications(embed=apps.tasks) = %d apps; first: %+v", len(apps.Apps), apps.Apps)
		}
	})

	var first []marathon.Task
	t.Run("tasks", func(t *testing.T) {
		first = e.runningTasks(t, web, 2)
		hosts := map[string]bool{}
		for _, task := range first {
			if task.AppID != web {
				t.Errorf("task %s appId = %q", task.ID, task.AppID)
			}
			if !strings.HasPrefix(task.ID, "gm_web.") {
				t.Errorf("task id %q does not start with the app's safe path", task.ID)
			}
			if task.Host == "" || task.SlaveID == "" || task.StagedAt == "" || task.StartedAt == "" || task.Version != created.Version {
				t.Errorf("task %+v lacks host, slaveId, stagedAt, startedAt or version", task)
			}
			if len(task.Ports) != 1 || task.Ports[0] < 31000 || task.Ports[0] > 32000 {
				t.Errorf("task %s ports = %v, want one port from the agents' 31000-32000", task.ID, task.Ports)
			}
			hosts[task.Host] = true
		}

		all, err := cli.AllTasks(&marathon.AllTasksOpts{Status: "running"})
		e.must(t, "AllTasks(running)", err)
		byApp := map[string]int{}
		for _, task := range all.Tasks {
			byApp[task.AppID]++
		}
		if byApp[web] != 2 || byApp[worker] != 1 || len(all.Tasks) != 3 {
			t.Errorf("AllTasks(running) per app = %v", byApp)
		}
		staging, err := cli.AllTasks(&marathon.AllTasksOpts{Status: "staging"})
		e.must(t, "AllTasks(staging)", err)
		if len(staging.Tasks) != 0 {
			t.Errorf("AllTasks(staging) = %v, want none once all run", taskIDs(staging.Tasks))
		}
		// TaskEndpoints is not tried: go-marathon reads
		// app.container.docker to find the port index and panics on apps
		// without a Docker container.
	})

	t.Run("scale", func(t *testing.T) {
		dep, err := cli.ScaleApplicationInstances(web, 3, false)
		e.must(t, "ScaleApplicationInstances(3)", err)
		e.wait(t, "scale to 3", dep.DeploymentID)
		ts := e.runningTasks(t, web, 3)
		for _, id := range taskIDs(first) {
			if !slices.Contains(taskIDs(ts), id) {
				t.Errorf("scaling up replaced task %s", id)
			}
		}
		app, err := cli.Application(web)
		e.must(t, "Application", err)
		if *app.Instances != 3 || (*app.Env)["MODE"] != "blue" || (*app.Labels)["tier"] != "web" {
			t.Errorf("after scale: instances %d env %v labels %v (a scale must keep the rest)", *app.Instances, *app.Env, *app.Labels)
		}
	})

	t.Run("kill task and scale", func(t *testing.T) {
		before := e.runningTasks(t, web, 3)
		victim := before[0].ID
		// go-marathon's KillTask derives the app id from the task id
		// (everything before its last ".", "_" read as "/"), which works
		// only for legacy ids "<safePath>.<uuid>"; with the instance-era
		// ids of Marathon >= 1.8 (and Basalt) it asks for an app that does
		// not exist, against Marathon too. Try it, and go on with
		// KillTasks (POST /v2/tasks/delete), which names no app.
		if _, err := cli.KillTask(victim, &marathon.KillTaskOpts{Scale: true}); err != nil {
			t.Logf("KillTask(%s, scale) fails as with Marathon >= 1.8: %v", victim, err)
			e.must(t, "KillTasks(scale)", cli.KillTasks([]string{victim}, &marathon.KillTaskOpts{Scale: true}))
		}
		e.eventually(t, func() error {
			app, err := cli.Application(web)
			if err != nil {
				return err
			}
			if *app.Instances != 2 || len(app.Deployments) != 0 {
				return fmt.Errorf("instances %d, deployments %v", *app.Instances, app.Deployments)
			}
			return nil
		})
		after := e.runningTasks(t, web, 2)
		if slices.Contains(taskIDs(after), victim) {
			t.Errorf("killed task %s still listed", victim)
		}
	})

	t.Run("kill tasks without scale are replaced", func(t *testing.T) {
		before := e.runningTasks(t, worker, 1)
		killed, err := cli.KillApplicationTasks(worker, &marathon.KillApplicationTasksOpts{})
		e.must(t, "KillApplicationTasks", err)
		if got := taskIDs(killed.Tasks); !slices.Equal(got, taskIDs(before)) {
			t.Errorf("KillApplicationTasks answered %v, want the killed %v", got, taskIDs(before))
		}
		e.eventually(t, func() error {
			ts, err := cli.Tasks(worker)
			if err != nil {
				return err
			}
			if len(ts.Tasks) != 1 || ts.Tasks[0].ID == before[0].ID || ts.Tasks[0].State != "TASK_RUNNING" {
				return fmt.Errorf("worker tasks %v", ts.Tasks)
			}
			return nil
		})
	})

	var v1, v2 string
	t.Run("update and versions", func(t *testing.T) {
		app, err := cli.Application(web)
		e.must(t, "Application", err)
		v1 = app.Version
		upd := newApp(web, 2)
		upd.AddLabel("tier", "web").AddEnv("GREETING", "hello").AddEnv("MODE", "green")
		dep, err := cli.UpdateApplication(upd, false)
		e.must(t, "UpdateApplication", err)
		if dep.Version == "" || dep.Version == v1 {
			t.Errorf("update answered version %q (was %q)", dep.Version, v1)
		}
		e.wait(t, "update", dep.DeploymentID)
		app, err = cli.Application(web)
		e.must(t, "Application", err)
		v2 = app.Version
		if (*app.Env)["MODE"] != "green" || app.Version != dep.Version {
			t.Errorf("after update: env %v version %q (deployment said %q)", *app.Env, app.Version, dep.Version)
		}
		for _, task := range e.runningTasks(t, web, 2) {
			if task.Version != v2 {
				t.Errorf("task %s runs version %q, want the new %q", task.ID, task.Version, v2)
			}
		}
		vs, err := cli.ApplicationVersions(web)
		e.must(t, "ApplicationVersions", err)
		if len(vs.Versions) < 2 || !slices.Contains(vs.Versions, v1) || !slices.Contains(vs.Versions, v2) || !slices.Contains(vs.Versions, created.Version) {
			t.Errorf("versions %v lack the created %q, pre-update %q or new %q", vs.Versions, created.Version, v1, v2)
		}
		has, err := cli.HasApplicationVersion(web, created.Version)
		e.must(t, "HasApplicationVersion", err)
		if !has {
			t.Errorf("HasApplicationVersion(%s) = false", created.Version)
		}
		old, err := cli.ApplicationByVersion(web, created.Version)
		e.must(t, "ApplicationByVersion", err)
		if old.ID != web || old.Env == nil || (*old.Env)["MODE"] != "blue" || *old.Instances != 2 || old.Version != created.Version {
			t.Errorf("app at version %s: id %q env %v instances %v version %q", created.Version, old.ID, old.Env, old.Instances, old.Version)
		}
	})

	t.Run("set version (rollback)", func(t *testing.T) {
		if v1 == "" {
			t.Skip("no earlier version")
		}
		dep, err := cli.SetApplicationVersion(web, &marathon.ApplicationVersion{Version: v1})
		e.must(t, "SetApplicationVersion", err)
		e.wait(t, "rollback", dep.DeploymentID)
		app, err := cli.Application(web)
		e.must(t, "Application", err)
		if (*app.Env)["MODE"] != "blue" || *app.Instances != 2 {
			t.Errorf("after rollback to %s: env %v instances %d", v1, *app.Env, *app.Instances)
		}
	})

	t.Run("restart", func(t *testing.T) {
		before := e.runningTasks(t, web, 2)
		dep, err := cli.RestartApplication(web, false)
		e.must(t, "RestartApplication", err)
		e.wait(t, "restart", dep.DeploymentID)
		after := e.runningTasks(t, web, 2)
		for _, id := range taskIDs(before) {
			if slices.Contains(taskIDs(after), id) {
				t.Errorf("task %s survived the restart", id)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, id := range []string{web, worker} {
			dep, err := cli.DeleteApplication(id, false)
			e.must(t, "DeleteApplication "+id, err)
			e.wait(t, "delete "+id, dep.DeploymentID)
			if _, err := cli.Application(id); !isNotFound(err) {
				t.Errorf("Application(%s) after delete: %v, want 404", id, err)
			}
		}
		e.eventually(t, func() error {
			all, err := cli.AllTasks(nil)
			if err != nil {
				return err
			}
			if len(all.Tasks) != 0 {
				return fmt.Errorf("tasks left: %v", taskIDs(all.Tasks))
			}
			return nil
		})
		ids, err := cli.ListApplications(nil)
		e.must(t, "ListApplications", err)
		if len(ids) != 0 {
			t.Errorf("apps left: %v", ids)
		}
	})
}

// An app declaring a Mesos HTTP health check round-trips through go-marathon.
func TestHealthCheckDefinition(t *testing.T) {
	e := start(t, false)
	const id = "/gm/checked"
	app := newApp(id, 1)
	hc := marathon.NewDefaultHealthCheck().SetPath("/health").SetPortIndex(0).SetMaxConsecutiveFailures(5)
	hc.Protocol = "MESOS_HTTP"
	hc.IntervalSeconds = 7
	hc.GracePeriodSeconds = 60
	app.AddHealthCheck(hc)
	_, err := e.cli.CreateApplication(app)
	e.must(t, "CreateApplication", err)
	got, err := e.cli.Application(id)
	e.must(t, "Application", err)
	if got.HealthChecks == nil || len(*got.HealthChecks) != 1 {
		t.Fatalf("healthChecks = %v", got.HealthChecks)
	}
	h := (*got.HealthChecks)[0]
	if h.Protocol != "MESOS_HTTP" || h.Path == nil || *h.Path != "/health" || h.IntervalSeconds != 7 ||
		h.GracePeriodSeconds != 60 || h.MaxConsecutiveFailures == nil || *h.MaxConsecutiveFailures != 5 {
		t.Errorf("health check read back as %+v (path %s, maxConsecutiveFailures %s)\n%s", h, deref(h.Path), deref(h.MaxConsecutiveFailures), e.wire.tail(1))
	}
	dep, err := e.cli.DeleteApplication(id, true)
	e.must(t, "DeleteApplication(force)", err)
	e.wait(t, "delete", dep.DeploymentID)
}

// An app whose tasks keep failing: its last failure, its launch delay in
// the queue, and resetting that delay.
func TestFailingApp(t *testing.T) {
	e := start(t, false)
	cli := e.cli
	const id = "/gm/crashy"
	app := newApp(id, 1)
	app.AddLabel("fake.run_for", "10ms").AddLabel("fake.exit_code", "3")
	backoff, factor := 60.0, 1.15
	app.BackoffSeconds, app.BackoffFactor = &backoff, &factor
	res, err := cli.CreateApplication(app)
	e.must(t, "CreateApplication", err)

	var failure *marathon.LastTaskFailure
	t.Run("last task failure", func(t *testing.T) {
		e.eventually(t, func() error {
			a, err := cli.ApplicationBy(id, &marathon.GetAppOpts{Embed: []string{"app.lastTaskFailure"}})
			if err != nil {
				return err
			}
			if a.LastTaskFailure == nil {
				return errors.New("no lastTaskFailure yet")
			}
			failure = a.LastTaskFailure
			return nil
		})
		f := failure
		if f.AppID != id || f.State != "TASK_FAILED" || !strings.HasPrefix(f.TaskID, "gm_crashy.") || f.Host == "" ||
			f.Timestamp == "" || f.Version != res.Version {
			t.Errorf("lastTaskFailure = %+v (app version %s)", f, res.Version)
		}
	})

	t.Run("queue delay", func(t *testing.T) {
		var item marathon.Item
		e.eventually(t, func() error {
			q, err := cli.Queue()
			if err != nil {
				return err
			}
			for _, it := range q.Items {
				if it.Application.ID == id && it.Delay.TimeLeftSeconds > 0 {
					item = it
					return nil
				}
			}
			return fmt.Errorf("%s not delayed in the queue: %+v", id, q.Items)
		})
		if item.Count != 1 || item.Delay.Overdue || item.Delay.TimeLeftSeconds > 60 {
			t.Errorf("queue item: count %d delay %+v, want 1 and 0 < timeLeftSeconds <= 60, not overdue", item.Count, item.Delay)
		}
		e.must(t, "DeleteQueueDelay", cli.DeleteQueueDelay(id))
		// With the delay reset the instance is launched (and fails) again.
		e.eventually(t, func() error {
			a, err := cli.ApplicationBy(id, &marathon.GetAppOpts{Embed: []string{"app.lastTaskFailure"}})
			if err != nil {
				return err
			}
			if a.LastTaskFailure == nil || a.LastTaskFailure.TaskID == failure.TaskID {
				return fmt.Errorf("no new failure after the delay reset: %+v", a.LastTaskFailure)
			}
			return nil
		})
	})

	dep, err := cli.DeleteApplication(id, true)
	e.must(t, "DeleteApplication(force)", err)
	e.wait(t, "delete", dep.DeploymentID)
}

// Marathon's error bodies decode into go-marathon's error codes and
// messages.
func TestErrors(t *testing.T) {
	e := start(t, false)
	cli := e.cli
	res, err := cli.CreateApplication(newApp("/gm/once", 0))
	e.must(t, "CreateApplication", err)
	e.wait(t, "create", deploymentOf(t, res))

	cases := []struct {
		name string
		call func() error
		code int
		msg  []string // substrings of go-marathon's message
	}{
		{"duplicate app", func() error { _, err := cli.CreateApplication(newApp("/gm/once", 0)); return err },
			marathon.ErrCodeDuplicateID, []string{"already exists"}},
		{"invalid app", func() error {
			app := newApp("/gm/Bad_Id", 1)
			app.CPU(-1)
			_, err := cli.CreateApplication(app)
			return err
		}, marathon.ErrCodeInvalidBean, []string{"path: '/id'", "path: '/cpus'"}},
		{"unknown app", func() error { _, err := cli.Application("/gm/none"); return err },
			marathon.ErrCodeNotFound, []string{"/gm/none"}},
		{"delete unknown app", func() error { _, err := cli.DeleteApplication("/gm/none", false); return err },
			marathon.ErrCodeNotFound, []string{"/gm/none"}},
		{"unknown group", func() error { _, err := cli.Group("/nogroup"); return err },
			marathon.ErrCodeNotFound, []string{"/nogroup"}},
		{"versions of unknown app", func() error { _, err := cli.ApplicationVersions("/gm/none"); return err },
			marathon.ErrCodeNotFound, []string{"/gm/none"}},
	}
	for _, tc := range cases {
		err := tc.call()
		var apiErr *marathon.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: %v, want an APIError", tc.name, err)
			continue
		}
		if apiErr.ErrCode != tc.code {
			t.Errorf("%s: error code %d, want %d: %v\n%s", tc.name, apiErr.ErrCode, tc.code, err, e.wire.tail(1))
		}
		for _, m := range tc.msg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: message %q lacks %q", tc.name, err, m)
			}
		}
	}
}

// A group of two apps, one depending on the other.
func TestGroups(t *testing.T) {
	// go-marathon's WaitOnGroup leaves its deadline goroutine behind even on
	// success (it waits on a channel nobody signals), so no leak check here.
	e := start(t, true)
	cli := e.cli
	const gid, db, api = "/shop", "/shop/db", "/shop/api"

	t.Run("create", func(t *testing.T) {
		g := marathon.NewApplicationGroup(gid)
		g.App(newApp(db, 1))
		g.App(newApp(api, 2).DependsOn(db))
		e.must(t, "CreateGroup", cli.CreateGroup(g))
		e.runningTasks(t, db, 1)
		e.runningTasks(t, api, 2)
		// WaitOnGroup reads each app with GET /v2/apps/{id} and wants its
		// "tasks" (embedded by default in Marathon). On timeout it leaks a
		// goroutine of its own, which the leak check then reports.
		if err := cli.WaitOnGroup(gid, 5*time.Second); err != nil {
			t.Errorf("WaitOnGroup of a group whose tasks all run: %v\n%s", err, e.wire.tail(1))
		}
	})

	t.Run("read", func(t *testing.T) {
		g, err := cli.Group(gid)
		e.must(t, "Group", err)
		if g.ID != gid || len(g.Apps) != 2 {
			t.Fatalf("group %q with %d apps", g.ID, len(g.Apps))
		}
		apps := map[string]*marathon.Application{}
		for _, a := range g.Apps {
			apps[a.ID] = a
		}
		if a := apps[api]; a == nil || !slices.Equal(a.Dependencies, []string{db}) || *a.Instances != 2 {
			t.Errorf("api in group = %+v", a)
		}
		if a := apps[db]; a == nil || *a.Instances != 1 {
			t.Errorf("db in group = %+v", a)
		}

		root, err := cli.Groups()
		e.must(t, "Groups", err)
		var sub []string
		for _, g := range root.Groups {
			sub = append(sub, g.ID)
		}
		if root.ID != "/" || !slices.Equal(sub, []string{gid}) {
			t.Errorf("root group %q has groups %v, want [%s]", root.ID, sub, gid)
		}
		has, err := cli.HasGroup(gid)
		e.must(t, "HasGroup", err)
		if !has {
			t.Error("HasGroup = false")
		}
		if has, err := cli.HasGroup("/nope"); err != nil || has {
			t.Errorf("HasGroup(/nope) = %v, %v", has, err)
		}

		// Dependencies order the start: api starts once db runs.
		dbTasks := e.runningTasks(t, db, 1)
		apiTasks := e.runningTasks(t, api, 2)
		for _, task := range apiTasks {
			if task.StagedAt < dbTasks[0].StartedAt {
				t.Errorf("api task %s staged at %s, before db started at %s", task.ID, task.StagedAt, dbTasks[0].StartedAt)
			}
		}

		emb, err := cli.GroupBy(gid, &marathon.GetGroupOpts{Embed: []string{"group.apps", "group.apps.tasks"}})
		e.must(t, "GroupBy(embed)", err)
		n := 0
		for _, a := range emb.Apps {
			n += len(a.Tasks)
		}
		if len(emb.Apps) != 2 || n != 3 {
			t.Errorf("GroupBy(embed group.apps.tasks): %d apps with %d tasks, want 2 and 3", len(emb.Apps), n)
		}
	})

	t.Run("update", func(t *testing.T) {
		g := marathon.NewApplicationGroup(gid)
		g.App(newApp(db, 2))
		g.App(newApp(api, 2).DependsOn(db))
		dep, err := cli.UpdateGroup(gid, g, false)
		e.must(t, "UpdateGroup", err)
		e.wait(t, "update group", dep.DeploymentID)
		e.runningTasks(t, db, 2)
	})

	t.Run("delete", func(t *testing.T) {
		dep, err := cli.DeleteGroup(gid, false)
		e.must(t, "DeleteGroup", err)
		e.wait(t, "delete group", dep.DeploymentID)
		has, err := cli.HasGroup(gid)
		e.must(t, "HasGroup", err)
		if has {
			t.Error("group still exists after its delete deployment")
		}
		if _, err := cli.Group(gid); !isNotFound(err) {
			t.Errorf("Group(%s) after delete: %v, want 404", gid, err)
		}
		e.eventually(t, func() error {
			all, err := cli.AllTasks(nil)
			if err != nil {
				return err
			}
			if len(all.Tasks) != 0 {
				return fmt.Errorf("tasks left: %v", taskIDs(all.Tasks))
			}
			return nil
		})
	})
}

// A deployment that cannot finish (no agent fits the app) is listed, its
// app waits in the launch queue, and deleting the deployment rolls it back.
func TestStuckDeploymentRollback(t *testing.T) {
	e := start(t, false)
	cli := e.cli
	const id = "/gm/huge"
	app := newApp(id, 2)
	app.CPU(64) // agents offer 4 cpus each
	res, err := cli.CreateApplication(app)
	e.must(t, "CreateApplication", err)
	depID := deploymentOf(t, res)

	t.Run("deployments", func(t *testing.T) {
		ds, err := cli.Deployments()
		e.must(t, "Deployments", err)
		var d *marathon.Deployment
		for _, x := range ds {
			if x.ID == depID {
				d = x
			}
		}
		if d == nil {
			t.Fatalf("deployment %s not listed among %d", depID, len(ds))
		}
		if !slices.Equal(d.AffectedApps, []string{id}) || d.Version != res.Version || d.TotalSteps < 1 || d.CurrentStep < 1 {
			t.Errorf("deployment = %+v", d)
		}
		if len(d.Steps) != d.TotalSteps {
			t.Errorf("%d steps decoded, totalSteps %d: %s", len(d.Steps), d.TotalSteps, d.XXStepsRaw)
		}
		var actions []string
		for _, step := range d.Steps {
			for _, a := range step {
				if a.App != id {
					t.Errorf("step action %+v names another app", a)
				}
				actions = append(actions, a.Action)
			}
		}
		if !slices.Contains(actions, "StartApplication") && !slices.Contains(actions, "ScaleApplication") {
			t.Errorf("actions %v lack StartApplication/ScaleApplication", actions)
		}
		if len(d.CurrentActions) == 0 || d.CurrentActions[0].App != id {
			t.Errorf("currentActions = %v", d.CurrentActions)
		}
		has, err := cli.HasDeployment(depID)
		e.must(t, "HasDeployment", err)
		if !has {
			t.Error("HasDeployment = false")
		}
		appDeps, err := cli.ApplicationDeployments(id)
		e.must(t, "ApplicationDeployments", err)
		if len(appDeps) != 1 || appDeps[0].DeploymentID != depID {
			t.Errorf("ApplicationDeployments = %v", appDeps)
		}
		if err := cli.WaitOnDeployment(depID, 200*time.Millisecond); !errors.Is(err, marathon.ErrTimeoutError) {
			t.Errorf("WaitOnDeployment of a stuck deployment: %v, want ErrTimeoutError", err)
		}
	})

	t.Run("queue", func(t *testing.T) {
		e.eventually(t, func() error {
			q, err := cli.Queue()
			if err != nil {
				return err
			}
			for _, it := range q.Items {
				if it.Application.ID == id {
					if it.Count != 2 {
						return fmt.Errorf("queue item count %d, want 2", it.Count)
					}
					if it.Application.CPUs != 64 {
						t.Errorf("queued app cpus = %v", it.Application.CPUs)
					}
					return nil
				}
			}
			return fmt.Errorf("%s not in the queue (%d items)", id, len(q.Items))
		})
		staging, err := cli.AllTasks(&marathon.AllTasksOpts{Status: "staging"})
		e.must(t, "AllTasks(staging)", err)
		if len(staging.Tasks) != 0 {
			t.Errorf("tasks of an app no agent fits: %v", taskIDs(staging.Tasks))
		}
		e.must(t, "DeleteQueueDelay", cli.DeleteQueueDelay(id))
		if err := cli.DeleteQueueDelay("/gm/nope"); !isNotFound(err) {
			t.Errorf("DeleteQueueDelay of an unknown app: %v, want 404", err)
		}
	})

	t.Run("locked", func(t *testing.T) {
		_, err := cli.ScaleApplicationInstances(id, 1, false)
		var apiErr *marathon.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrCode != marathon.ErrCodeAppLocked {
			t.Errorf("scaling an app under deployment without force: %v, want 409 app locked", err)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		// go-marathon's DeleteDeployment never sends force: Marathon then
		// cancels and rolls back with a new deployment.
		rb, err := cli.DeleteDeployment(depID, false)
		e.must(t, "DeleteDeployment", err)
		if rb.DeploymentID == "" || rb.DeploymentID == depID {
			t.Fatalf("rollback deployment id %q (cancelled %s)", rb.DeploymentID, depID)
		}
		e.wait(t, "rollback", rb.DeploymentID)
		has, err := cli.HasDeployment(depID)
		e.must(t, "HasDeployment", err)
		if has {
			t.Errorf("cancelled deployment %s still listed", depID)
		}
		// Rolling back a creation removes the app.
		if _, err := cli.Application(id); !isNotFound(err) {
			t.Errorf("Application after rolling back its creation: %v, want 404", err)
		}
		q, err := cli.Queue()
		e.must(t, "Queue", err)
		if len(q.Items) != 0 {
			t.Errorf("queue after rollback has %d items", len(q.Items))
		}
		if _, err := cli.DeleteDeployment("no-such-deployment", false); !isNotFound(err) {
			t.Errorf("DeleteDeployment of an unknown id: %v, want 404", err)
		}
	})
}

// Info, Leader and Ping.
func TestInfoLeaderPing(t *testing.T) {
	e := start(t, false)
	cli := e.cli
	ok, err := cli.Ping()
	e.must(t, "Ping", err)
	if !ok {
		t.Error("Ping = false")
	}
	hostPort := strings.TrimPrefix(e.url, "http://")
	leader, err := cli.Leader()
	e.must(t, "Leader", err)
	if leader != hostPort {
		t.Errorf("Leader() = %q, want %q", leader, hostPort)
	}
	info, err := cli.Info()
	e.must(t, "Info", err)
	if info.Name != "marathon" || info.Version == "" || info.FrameworkID == "" || info.Leader != hostPort {
		t.Errorf("info: name %q version %q frameworkId %q leader %q", info.Name, info.Version, info.FrameworkID, info.Leader)
	}
	if info.MarathonConfig.Master == "" || info.MarathonConfig.FrameworkName == "" {
		t.Errorf("marathon_config: %+v", info.MarathonConfig)
	}
	if _, port, _ := net.SplitHostPort(hostPort); fmt.Sprint(info.HTTPConfig.HTTPPort) != port {
		t.Errorf("http_config.http_port = %v, want %s", info.HTTPConfig.HTTPPort, port)
	}
	if cli.GetMarathonURL() != e.url {
		t.Errorf("GetMarathonURL = %q", cli.GetMarathonURL())
	}
}

// go-marathon pointed at a standby master: every call is proxied to the
// Marathon leader, and Leader names the leader, not the standby.
func TestThroughStandby(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 1})
	leader := c.MarathonLeader()
	var standby *clustertest.MasterNode
	for _, m := range c.Masters {
		if m != leader {
			standby = m
			break
		}
	}
	wire := &wireLog{t: t}
	t.Cleanup(wire.close)
	tr := &http.Transport{ResponseHeaderTimeout: 15 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	cli, err := marathon.NewClient(marathon.Config{
		URL:             standby.MarathonURL(),
		HTTPClient:      &http.Client{Transport: tr},
		LogOutput:       wire,
		PollingWaitTime: 25 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("marathon.NewClient: %v", err)
	}
	e := &env{c: c, cli: cli, wire: wire, url: standby.MarathonURL()}

	ok, err := cli.Ping()
	e.must(t, "Ping", err)
	if !ok {
		t.Error("Ping = false")
	}
	// A standby learns the leader from the election's watch, a moment after
	// the leader itself does: until then it answers "There is no leader".
	want := strings.TrimPrefix(leader.MarathonURL(), "http://")
	e.eventually(t, func() error {
		got, err := cli.Leader()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("Leader() through a standby = %q, want the leader's %q", got, want)
		}
		return nil
	})
	const id = "/gm/proxied"
	e.eventually(t, func() error {
		info, err := cli.Info()
		if err != nil {
			return err
		}
		if info.FrameworkID == "" {
			return errors.New("no framework id yet")
		}
		return nil
	})
	res, err := cli.CreateApplication(newApp(id, 1))
	e.must(t, "CreateApplication through a standby", err)
	e.wait(t, "create through a standby", deploymentOf(t, res))
	ts := e.runningTasks(t, id, 1)
	if ts[0].AppID != id {
		t.Errorf("task %+v", ts[0])
	}
	dep, err := cli.DeleteApplication(id, false)
	e.must(t, "DeleteApplication through a standby", err)
	e.wait(t, "delete through a standby", dep.DeploymentID)
	if _, err := cli.Application(id); !isNotFound(err) {
		t.Errorf("Application after delete: %v, want 404", err)
	}
}

// The events of a deployment reach a go-marathon SSE listener, decoded.
func TestEventStream(t *testing.T) {
	e := start(t, true)
	cli := e.cli
	filter := marathon.EventIDApplications | marathon.EventIDAPIRequest | marathon.EventIDDeploymentInfo |
		marathon.EventIDDeploymentSuccess | marathon.EventIDDeploymentFailed | marathon.EventIDDeploymentStepSuccess |
		marathon.EventIDGroupChangeSuccess
	events, err := cli.AddEventsListener(filter)
	e.must(t, "AddEventsListener", err)
	t.Cleanup(func() { cli.RemoveEventsListener(events) })

	const id = "/gm/evented"
	res, err := cli.CreateApplication(newApp(id, 1))
	e.must(t, "CreateApplication", err)
	depID := deploymentOf(t, res)

	// go-marathon hands each event to the listener on its own goroutine, so
	// their order is lost: collect until the deployment's success arrives
	// and then check what came.
	seen := map[string][]*marathon.Event{}
	timeout := time.NewTimer(waitFor)
	defer timeout.Stop()
	collect := func(done func() bool) {
		t.Helper()
		for !done() {
			select {
			case ev := <-events:
				seen[ev.Name] = append(seen[ev.Name], ev)
			case <-timeout.C:
				t.Fatalf("events so far: %v\ngo-marathon event problems: %v", names(seen), e.wire.problems())
			}
		}
	}
	succeeded := func(dep string) func() bool {
		return func() bool {
			for _, ev := range seen["deployment_success"] {
				if ev.Event.(*marathon.EventDeploymentSuccess).ID == dep {
					return true
				}
			}
			return false
		}
	}
	collect(succeeded(depID))
	// The task's TASK_RUNNING may come after the deployment's success.
	running := func() bool {
		for _, ev := range seen["status_update_event"] {
			if s := ev.Event.(*marathon.EventStatusUpdate); s.AppID == id && s.TaskStatus == "TASK_RUNNING" {
				return true
			}
		}
		return false
	}
	collect(running)
	collect(func() bool { return len(seen["deployment_step_success"]) > 0 }) // delivered on its own goroutine

	if p := e.wire.problems(); len(p) > 0 {
		t.Errorf("go-marathon could not handle some events: %v", p)
	}
	t.Run("api_post_event", func(t *testing.T) {
		evs := seen["api_post_event"]
		if len(evs) == 0 {
			t.Fatal("no api_post_event")
		}
		ev := evs[0].Event.(*marathon.EventAPIRequest)
		if ev.AppDefinition == nil || ev.AppDefinition.ID != id || ev.URI == "" || ev.Timestamp == "" {
			t.Errorf("api_post_event = %+v", ev)
		}
	})
	t.Run("deployment_info", func(t *testing.T) {
		var found bool
		for _, x := range seen["deployment_info"] {
			ev := x.Event.(*marathon.EventDeploymentInfo)
			if ev.Plan == nil || ev.Plan.ID != depID {
				continue
			}
			found = true
			if ev.Plan.Target == nil || ev.Plan.Original == nil {
				t.Errorf("deployment_info plan lacks its original and target groups: %+v", ev.Plan)
			}
			if len(ev.Plan.Steps) == 0 || ev.CurrentStep == nil || len(ev.CurrentStep.Actions) == 0 {
				t.Errorf("deployment_info plan %+v currentStep %+v", ev.Plan, ev.CurrentStep)
				continue
			}
			if a := ev.CurrentStep.Actions[0]; a.App != id || a.Action == "" {
				t.Errorf("deployment_info current action %+v", a)
			}
		}
		if !found {
			t.Errorf("no deployment_info for %s among %d", depID, len(seen["deployment_info"]))
		}
	})
	t.Run("deployment_step_success", func(t *testing.T) {
		if len(seen["deployment_step_success"]) == 0 {
			t.Fatal("no deployment_step_success")
		}
		ev := seen["deployment_step_success"][0].Event.(*marathon.EventDeploymentStepSuccess)
		if ev.Plan == nil || ev.Plan.ID != depID || ev.CurrentStep == nil {
			t.Errorf("deployment_step_success = %+v", ev)
		}
	})
	t.Run("status_update_event", func(t *testing.T) {
		var ev *marathon.EventStatusUpdate
		for _, x := range seen["status_update_event"] {
			if s := x.Event.(*marathon.EventStatusUpdate); s.TaskStatus == "TASK_RUNNING" {
				ev = s
			}
		}
		ts := e.runningTasks(t, id, 1)
		if ev.TaskID != ts[0].ID || ev.Host != ts[0].Host || ev.SlaveID != ts[0].SlaveID || ev.Version != res.Version || !slices.Equal(ev.Ports, ts[0].Ports) {
			t.Errorf("status_update_event %+v, task %+v", ev, ts[0])
		}
	})
	t.Run("group_change_success", func(t *testing.T) {
		if len(seen["group_change_success"]) == 0 {
			t.Fatal("no group_change_success")
		}
		ev := seen["group_change_success"][0].Event.(*marathon.EventGroupChangeSuccess)
		if ev.GroupID == "" || ev.Version == "" {
			t.Errorf("group_change_success = %+v", ev)
		}
	})

	t.Run("delete", func(t *testing.T) {
		dep, err := cli.DeleteApplication(id, false)
		e.must(t, "DeleteApplication", err)
		collect(succeeded(dep.DeploymentID))
		collect(func() bool {
			for _, ev := range seen["status_update_event"] {
				if s := ev.Event.(*marathon.EventStatusUpdate); s.AppID == id && s.TaskStatus == "TASK_KILLED" {
					return true
				}
			}
			return false
		})
		collect(func() bool {
			for _, ev := range seen["app_terminated_event"] {
				if ev.Event.(*marathon.EventAppTerminated).AppID == id {
					return true
				}
			}
			return false
		})
	})
}

// deref prints what p points at, or "nil".
func deref[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func names(seen map[string][]*marathon.Event) map[string]int {
	out := map[string]int{}
	for k, v := range seen {
		out[k] = len(v)
	}
	return out
}

// wireLog receives go-marathon's debug log: one line per API exchange
// (method, URL, request body, status, response body) and a line for each
// event it could not decode. It keeps the last lines for failure messages,
// and goes quiet once the test is over (go-marathon's event goroutine
// outlives it).
type wireLog struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
	recent []string
	bad    []string
}

const keepLines = 20

func (w *wireLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if len(line) > 1500 {
			line = line[:1500] + "…"
		}
		// go-marathon knows no event types newer than Marathon 1.4 (such as
		// instance_changed_event) and drops them: that is no decode error.
		if (strings.Contains(line, "failed to handle event") || strings.Contains(line, "failed to unmarshall")) &&
			!strings.Contains(line, "was not found or supported") {
			w.bad = append(w.bad, line)
		}
		w.recent = append(w.recent, line)
		if len(w.recent) > keepLines {
			w.recent = w.recent[len(w.recent)-keepLines:]
		}
	}
	return len(p), nil
}

// tail returns the last n lines.
func (w *wireLog) tail(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.recent[max(0, len(w.recent)-n):], "\n")
}

// problems returns the decode failures logged so far.
func (w *wireLog) problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.bad)
}

func (w *wireLog) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// gateDialer dials until shut; shut closes every connection it made and
// refuses new ones.
type gateDialer struct {
	mu     sync.Mutex
	shutAt bool
	conns  map[net.Conn]struct{}
	d      net.Dialer
}

func (g *gateDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutAt {
		return nil, fmt.Errorf("dial %s: the test is over", addr)
	}
	conn, err := g.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	g.conns[conn] = struct{}{}
	return conn, nil
}

func (g *gateDialer) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shutAt = true
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}
