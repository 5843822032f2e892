package mesos

import (
	"net/http"
	"testing"
)

func FuzzDecodeCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["*"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
		`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}],"command":{"value":"true"}}]}}],"filters":{"refuse_seconds":5}}}`,
		`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[],"operations":[{"type":"LAUNCH_GROUP","launch_group":{"executor":{"executor_id":{"value":"e"}},"task_group":{"tasks":[]}}}]}}`,
		`{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}]}}`,
		`{"type":"KILL","framework_id":{"value":"f"},"kill":{"task_id":{"value":"t"}}}`,
		`{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`,
		`{"type":"RECONCILE","framework_id":{"value":"f"},"reconcile":{"tasks":[{"task_id":{"value":"t"}}]}}`,
		`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":"f"},"update_framework":{"framework_info":{"user":"u","name":"n","id":{"value":"f"}}}}`,
		`{"type":"ACCEPT_INVERSE_OFFERS","framework_id":{"value":"f"}}`,
		`{"type":"REVIVE","framework_id":{"value":"f"},"revive":{"roles":["a/b"]}}`,
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","role":"../x"}}}`,
		`{"type":`, `[]`, `null`, ``, `{"type":"MESSAGE","framework_id":{"value":"f"},"message":{"agent_id":{"value":"a"},"executor_id":{"value":"e"},"data":"!!"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := DecodeCall(body)
		if err != nil {
			if code := HTTPStatus(err); code != http.StatusBadRequest && code != http.StatusNotImplemented {
				t.Fatalf("error %v maps to %d, want 400 or 501", err, code)
			}
			if call != nil {
				t.Fatal("a call and an error")
			}
			return
		}
		if call.Type == "" {
			t.Fatal("decoded a call without a type")
		}
		if call.Type != "SUBSCRIBE" && (call.FrameworkID == nil || call.FrameworkID.Value == "") {
			t.Fatal("decoded a non-SUBSCRIBE call without a framework id")
		}
	})
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err == nil {
		t.Fatal("config without URL validated")
	}
	cfg.URL = "http://127.0.0.1:5050"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.AgentPingTimeout = 0
	cfg.MaxAgentPingTimeouts = 0
	cfg.URL = "relative"
	if err := cfg.Validate(); err == nil {
		t.Fatal("bad config validated")
	}
}
