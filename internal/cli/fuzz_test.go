package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseMasterState feeds arbitrary documents to the /master/state
// decoder and the table code behind it: no input may panic them.
func FuzzParseMasterState(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "master_state.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, "web*")
	f.Add([]byte(`{"slaves":[{"id":"a","pid":"slave(1)@[::1]:5051","used_resources":{"cpus":"x"}}],"frameworks":[{"tasks":[{"id":"t"}]}]}`), "t")
	f.Add([]byte(`{"frameworks":[{"tasks":null,"completed_tasks":[{}]}],"completed_frameworks":[{}]}`), "[")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, doc []byte, pattern string) {
		st, err := parseMasterState(doc)
		if err != nil {
			return
		}
		rows := collectTasks(st, true, true, pattern)
		_, _ = findOneTask(rows, pattern)
		var out bytes.Buffer
		_ = printNodes(Env{Stdout: &out}, st)
		for _, a := range st.Slaves {
			_ = pidIP(a.PID)
		}
	})
}

// FuzzLastLines checks the tail logic on arbitrary files: the result is a
// suffix of the input holding at most n lines.
func FuzzLastLines(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), 2)
	f.Add([]byte("no newline"), 1)
	f.Add([]byte("\n\n\n"), 5)
	f.Add([]byte(""), 0)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n > 1<<20 {
			n = 1 << 20
		}
		got := lastLines(data, n)
		if !bytes.HasSuffix(data, got) {
			t.Fatalf("lastLines(%q, %d) = %q: not a suffix", data, n, got)
		}
		if c := bytes.Count(trimFinalNewline(got), []byte("\n")); n > 0 && c >= n {
			t.Fatalf("lastLines(%q, %d) = %q: %d line breaks", data, n, got, c)
		}
		if n > 0 && bytes.Count(trimFinalNewline(data), []byte("\n")) < n && !bytes.Equal(got, data) {
			t.Fatalf("lastLines(%q, %d) = %q: want all of it", data, n, got)
		}
	})
}

// FuzzAPIMessage feeds arbitrary error bodies (IAM's, Marathon's, a proxy's
// HTML) to the function that turns them into the message users read.
func FuzzAPIMessage(f *testing.F) {
	f.Add([]byte(`{"title":"Unauthorized","description":"The login credentials are invalid.","code":"ERR_INVALID_CREDENTIALS"}`))
	f.Add([]byte(`{"message":"App '/x' does not exist"}`))
	f.Add([]byte("<html><body>401 Authorization Required</body></html>"))
	f.Add([]byte(`{"description":1}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := apiMessage(body)
		// Decoding can only grow a body by replacing invalid UTF-8 bytes
		// (1 byte) with U+FFFD (3 bytes); "..." may be added.
		if len(msg) > 3*len(body)+3 {
			t.Fatalf("a %d-byte message from a %d-byte body", len(msg), len(body))
		}
		if !json.Valid(body) && len(msg) > 303 {
			t.Fatalf("a non-JSON body gave a %d-byte message, want at most 303", len(msg))
		}
	})
}
