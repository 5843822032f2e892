package agent

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// FuzzAgentCall: the agent API's call decoder and its input-record decoder
// never panic, and what they accept is a call they can act on.
func FuzzAgentCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"LAUNCH_NESTED_CONTAINER_SESSION","launch_nested_container_session":{"container_id":{"value":"s","parent":{"value":"p"}},"command":{"shell":false,"value":"id","arguments":["id"]},"container":{"type":"MESOS","tty_info":{"window_size":{"rows":24,"columns":80}}}}}`,
		`{"type":"WAIT_NESTED_CONTAINER","wait_nested_container":{"container_id":{"value":"s","parent":{"value":"p"}}}}`,
		`{"type":"KILL_NESTED_CONTAINER","kill_nested_container":{"container_id":{"value":"s","parent":{"value":"p"}}}}`,
		`{"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"PROCESS_IO","process_io":{"type":"DATA","data":{"type":"STDIN","data":"aGk="}}}}`,
		`{"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"CONTAINER_ID","container_id":{"value":"s"}}}`,
		`{"type":"LAUNCH_NESTED_CONTAINER_SESSION","launch_nested_container_session":{"container_id":{"value":"../x"}}}`,
		`{"type":""}`, `[]`, `{"type":"GET_STATE"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		call, err := decodeAgentCall(bytes.NewReader(b))
		if err == nil {
			if l := call.LaunchNestedContainerSession; call.Type == "LAUNCH_NESTED_CONTAINER_SESSION" {
				if l == nil || l.Command == nil || l.ContainerID.Parent == nil || !validContainerValue(l.ContainerID.Value) {
					t.Fatalf("accepted an unusable launch: %s", b)
				}
				if len(execArgs(l.Command)) == 0 {
					t.Fatalf("no argv from %s", b)
				}
			}
		} else {
			var ae *agentAPIError
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("decode error %v is not a 400", err)
			}
		}
		in, err := decodeInputRecord(b)
		if err == nil && in.Type == "PROCESS_IO" && in.ProcessIO == nil {
			_ = in // handled by attachInput: a 400
		}
		// The same bytes as a RecordIO input stream.
		var buf bytes.Buffer
		_ = recordio.NewWriter(&buf).WriteRecord(append([]byte{}, b...))
		rd := recordio.NewReader(io.MultiReader(&buf, bytes.NewReader(b)), maxAgentCall)
		for range 3 {
			if _, err := readInputRecord(rd); err != nil {
				break
			}
		}
	})
}
