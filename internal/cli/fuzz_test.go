package cli

import (
	"bytes"
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
