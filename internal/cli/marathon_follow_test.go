package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func event(t *testing.T, typ string, data any) marathon.Event {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return marathon.Event{Type: typ, Data: b}
}

// TestFollowerEvents drives followDeployment with events already queued
// against a Marathon whose /v2/deployments no longer lists the deployment:
// what was queued decides the outcome before the vanished deployment counts
// as success.
func TestFollowerEvents(t *testing.T) {
	step := map[string]any{"actions": []map[string]string{{"action": "RestartApplication", "app": "/a"}}}
	other := map[string]any{"actions": []map[string]string{{"action": "StartApplication", "app": "/b"}}}
	plan := map[string]any{"id": "d1", "steps": []any{other, step}}
	tests := []struct {
		name    string
		events  []marathon.Event
		out     string
		wantErr string
	}{
		{
			name:   "nothing queued: vanished means success",
			events: nil,
			out:    "Deployment d1 succeeded\n",
		},
		{
			name: "queued failure wins over vanishing",
			events: []marathon.Event{
				event(t, "deployment_step_failure", map[string]any{"plan": plan, "currentStep": step}),
				event(t, "deployment_failed", map[string]any{"id": "d1", "plan": plan}),
			},
			out:     "Step 2/2 failed: RestartApplication /a\n",
			wantErr: "deployment d1 failed",
		},
		{
			name: "other deployments and junk ignored",
			events: []marathon.Event{
				event(t, "deployment_failed", map[string]any{"id": "d2"}),
				{Type: "deployment_failed", Data: json.RawMessage(`not json`)},
				event(t, "deployment_step_success", map[string]any{"plan": map[string]any{"id": "d1"}, "currentStep": step}),
			},
			out: "Step finished: RestartApplication /a\nDeployment d1 succeeded\n",
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	c, err := marathon.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan marathon.Event, len(tt.events))
			for _, ev := range tt.events {
				ch <- ev
			}
			var out bytes.Buffer
			err := followDeployment(t.Context(), c, "d1", ch, time.Hour, &out)
			if gotErr := errString(err); gotErr != tt.wantErr {
				t.Errorf("err = %q, want %q", gotErr, tt.wantErr)
			}
			if out.String() != tt.out {
				t.Errorf("output %q, want %q", out.String(), tt.out)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFollowerStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"id":"d1","currentStep":1,"totalSteps":2,"currentActions":[{"action":"ScaleApplication","app":"/a"}]}]`))
	}))
	defer srv.Close()
	c, _ := marathon.NewClient(srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan marathon.Event, 1)
	ch <- event(t, "deployment_step_success", map[string]any{"plan": map[string]any{"id": "d1"}})
	close(ch)
	var out bytes.Buffer
	done := make(chan error)
	go func() { done <- followDeployment(ctx, c, "d1", ch, time.Hour, &out) }()
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want context canceled", err)
	}
}

func TestReadDefinitionFromStdin(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.SetIn(strings.NewReader("  {\"id\": \"/x\"}\n"))
	got, err := readDefinition(cmd, "-")
	if err != nil || string(got) != `{"id": "/x"}` {
		t.Errorf("readDefinition(stdin) = %s, %v", got, err)
	}
	cmd.SetIn(strings.NewReader("instances=1"))
	got, err = definitionArgs(cmd, nil)
	if err == nil {
		t.Errorf("definitionArgs(no args, stdin not JSON) = %s, want an error", got)
	}
}
