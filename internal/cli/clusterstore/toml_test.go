package clusterstore

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `# written by basalt
top = 1

[core]
dcos_url = "https://10.0.0.1"   # the cluster
dcos_acs_token = "eyJ.a\"b\\c\u00e9"
ssl_verify = 'C:\certs\ca.pem'
timeout = 30

[cluster]
name = "prod"
reporting = false
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range c.Keys() {
		got[k], _ = c.Get(k)
	}
	want := map[string]string{
		"top":                 "1",
		"core.dcos_url":       "https://10.0.0.1",
		"core.dcos_acs_token": "eyJ.a\"b\\cé",
		"core.ssl_verify":     `C:\certs\ca.pem`,
		"core.timeout":        "30",
		"cluster.name":        "prod",
		"cluster.reporting":   "false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	again, err := ParseConfig(c.Encode())
	if err != nil {
		t.Fatalf("re-parse of\n%s: %v", c.Encode(), err)
	}
	if !bytes.Equal(again.Encode(), c.Encode()) {
		t.Errorf("encode is not stable:\n%s\nvs\n%s", c.Encode(), again.Encode())
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, bad := range []string{
		"[core\nx = 1",
		"x = [1, 2]",
		"x = 1.5",
		"x = \"open",
		"x = \"\\q\"",
		"x = 1\nx = 2",
		"[a]\nb = 1\n[a]\nb = 2",
		"bad key = 1",
		"x =",
		"x = \"a\" junk",
		"just words",
		"x = \"\"\"multi\"\"\"",
		"x = 007",
		"x = '\x01'",
		"[[array]]",
		"\xff = 1",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%q): no error", bad)
		}
	}
}

// FuzzParseConfig: no input panics the parser, and whatever it accepts
// survives an encode/parse round trip unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("[core]\nssl_verify = \"false\"\n"))
	f.Add([]byte("a.b = 'x'\n[a]\nc = -12 # n\n"))
	f.Add([]byte("x = \"\\U0001F600\\u0000\"\r\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		enc := c.Encode()
		c2, err := ParseConfig(enc)
		if err != nil {
			t.Fatalf("encoding of accepted input does not parse: %v\n%s", err, enc)
		}
		for _, k := range c.Keys() {
			v1, _ := c.Get(k)
			v2, ok := c2.Get(k)
			if !ok || v1 != v2 {
				t.Fatalf("key %q: %q became %q (present %v)", k, v1, v2, ok)
			}
		}
		if len(c.Keys()) != len(c2.Keys()) {
			t.Fatalf("keys %v became %v", c.Keys(), c2.Keys())
		}
	})
}
