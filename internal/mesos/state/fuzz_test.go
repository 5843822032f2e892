package state

import (
	"errors"
	"net/http"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// FuzzDecodeOperatorCall: arbitrary bodies never panic, and either decode
// to a call the dispatcher knows or fail with a 4xx/501 callError.
func FuzzDecodeOperatorCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"GET_STATE"}`,
		`{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":1000}}}`,
		`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"f-0000"}}}`,
		`{"type":"TEARDOWN","teardown":{"framework_id":{}}}`,
		`{"type":"UPDATE_QUOTA"}`,
		`{"type":"NOPE"}`,
		`{"type":7}`,
		`{}`, `[]`, `null`, ``, `{"type":"GET_HEALTH"`, "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := decodeOperatorCall(body)
		if err != nil {
			var ce *callError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a callError", err)
			}
			if ce.status != http.StatusBadRequest && ce.status != http.StatusNotImplemented {
				t.Fatalf("status %d for %q", ce.status, body)
			}
			if ce.msg == "" {
				t.Fatal("callError without a message")
			}
			return
		}
		switch {
		case call.Type == mesosv1.OperatorTeardown:
			if call.Teardown == nil || call.Teardown.FrameworkID.Value == "" {
				t.Fatalf("TEARDOWN accepted without a framework id: %q", body)
			}
		case call.Type == mesosv1.OperatorGetMetrics, isCached(call.Type):
		default:
			t.Fatalf("accepted unknown call type %q", call.Type)
		}
	})
}
