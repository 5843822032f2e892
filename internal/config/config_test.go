package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

type Inner struct {
	Weights map[string]float64 `flag:"weights" help:"role weights"`
	Big     uint64             `flag:"big" help:"a big number"`
}

type Embedded struct {
	Ratio float64 `flag:"ratio" help:"a ratio"`
}

type testConfig struct {
	Name      string        `flag:"name" help:"the name"`
	Verbose   bool          `flag:"verbose" help:"chatty"`
	Port      int           `flag:"port" help:"the port"`
	Count     int64         `flag:"count" help:"a count"`
	Small     uint32        `flag:"small" help:"a small number"`
	Timeout   time.Duration `flag:"timeout" help:"a timeout"`
	Masters   []string      `flag:"masters" help:"master URLs"`
	MasterURL string        `flag:"master" env:"BASALT_MASTER_URL" help:"overridden env"`
	Nested    Inner
	Embedded
	Skipped string `flag:"-"`
	//lint:ignore U1000 present to show that unexported fields are skipped
	internal  int
	NotConfig *strings.Builder
}

func defaults() testConfig {
	return testConfig{
		Name:     "def",
		Port:     5050,
		Count:    7,
		Small:    3,
		Timeout:  5 * time.Second,
		Masters:  []string{"http://a:5050"},
		Nested:   Inner{Weights: map[string]float64{"*": 1}, Big: 9},
		Embedded: Embedded{Ratio: 0.5},
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// load binds cfg to a fresh flag set, parses args and loads.
func load(t *testing.T, cfg *testConfig, args []string, envs map[string]string) error {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l, err := Bind(fs, cfg)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return l.Load(env(envs))
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsUntouched(t *testing.T) {
	cfg := defaults()
	if err := load(t, &cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaults(), cfg, cmp.AllowUnexported(testConfig{})); diff != "" {
		t.Errorf("config changed without sources (-want +got):\n%s", diff)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", "name: from-file\nport: 1\ncount: 2\nsmall: 3\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want testConfig
	}{
		{
			name: "file over defaults",
			args: []string{"--config", file},
			want: func() testConfig { c := defaults(); c.Name, c.Port, c.Count, c.Small = "from-file", 1, 2, 3; return c }(),
		},
		{
			name: "env over file",
			args: []string{"--config", file},
			env:  map[string]string{"BASALT_PORT": "10", "BASALT_COUNT": "20"},
			want: func() testConfig {
				c := defaults()
				c.Name, c.Port, c.Count, c.Small = "from-file", 10, 20, 3
				return c
			}(),
		},
		{
			name: "flags over env over file",
			args: []string{"--config", file, "--port", "100"},
			env:  map[string]string{"BASALT_PORT": "10", "BASALT_COUNT": "20"},
			want: func() testConfig {
				c := defaults()
				c.Name, c.Port, c.Count, c.Small = "from-file", 100, 20, 3
				return c
			}(),
		},
		{
			name: "config file named by env",
			env:  map[string]string{"BASALT_CONFIG": file},
			want: func() testConfig { c := defaults(); c.Name, c.Port, c.Count, c.Small = "from-file", 1, 2, 3; return c }(),
		},
		{
			name: "env tag override",
			env:  map[string]string{"BASALT_MASTER_URL": "http://m:1", "BASALT_MASTER": "ignored"},
			want: func() testConfig { c := defaults(); c.MasterURL = "http://m:1"; return c }(),
		},
		{
			name: "flag equal to default still wins over env",
			args: []string{"--port=5050"},
			env:  map[string]string{"BASALT_PORT": "10"},
			want: defaults(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			if err := load(t, &cfg, tt.args, tt.env); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg, cmp.AllowUnexported(testConfig{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEveryTypeFromFlagsEnvAndFile(t *testing.T) {
	want := defaults()
	want.Name = "n"
	want.Verbose = true
	want.Port = -3
	want.Count = 1 << 40
	want.Small = 4000000000
	want.Timeout = 300 * time.Second
	want.Masters = []string{"http://x:1", "http://y:2"}
	want.MasterURL = "http://m"
	want.Nested.Weights = map[string]float64{"role": 2, "other": 1.5}
	want.Nested.Big = 1 << 63
	want.Ratio = 0.25

	flags := []string{
		"--name", "n", "--verbose", "--port=-3", "--count", "1099511627776", "--small", "4000000000",
		"--timeout", "300s", "--masters", "http://x:1", "--masters", "http://y:2", "--master", "http://m",
		"--weights", "role=2, other=1.5", "--big", "9223372036854775808", "--ratio", "0.25",
	}
	envs := map[string]string{
		"BASALT_NAME": "n", "BASALT_VERBOSE": "true", "BASALT_PORT": "-3", "BASALT_COUNT": "1099511627776",
		"BASALT_SMALL": "4000000000", "BASALT_TIMEOUT": "5m", "BASALT_MASTERS": "http://x:1,http://y:2",
		"BASALT_MASTER_URL": "http://m", "BASALT_WEIGHTS": "role=2,other=1.5",
		"BASALT_BIG": "9223372036854775808", "BASALT_RATIO": "0.25",
	}
	// Note YAML 1.1: an unquoted n/y/no/yes/on/off is a bool, so "name: n"
	// would set "false"; users quote such strings.
	yamlFile := writeFile(t, "c.yaml", `
name: "n"
verbose: true
port: -3
count: 1099511627776
small: 4000000000
timeout: 300s
masters:
  - http://x:1
  - http://y:2
master: http://m
weights:
  role: 2
  other: 1.5
big: 9223372036854775808
ratio: 0.25
`)
	jsonFile := writeFile(t, "c.json", `{"name":"n","verbose":true,"port":-3,"count":1099511627776,
"small":4000000000,"timeout":"5m","masters":"http://x:1,http://y:2","master":"http://m",
"weights":"role=2,other=1.5","big":9223372036854775808,"ratio":"0.25"}`)

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flags", flags, nil},
		{"env", nil, envs},
		{"yaml", []string{"--config", yamlFile}, nil},
		{"json", []string{"--config", jsonFile}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults()
			if err := load(t, &cfg, tc.args, tc.env); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, cfg, cmp.AllowUnexported(testConfig{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorsNameTheirSource(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantErr []string
	}{
		{name: "env int", env: map[string]string{"BASALT_PORT": "x"}, wantErr: []string{`BASALT_PORT: invalid int "x"`}},
		{name: "env duration", env: map[string]string{"BASALT_TIMEOUT": "5"}, wantErr: []string{`BASALT_TIMEOUT: invalid duration "5"`}},
		{name: "env map", env: map[string]string{"BASALT_WEIGHTS": "a"}, wantErr: []string{`BASALT_WEIGHTS: invalid map entry "a"`}},
		{name: "env several at once", env: map[string]string{"BASALT_PORT": "x", "BASALT_VERBOSE": "maybe"}, wantErr: []string{"BASALT_PORT", "BASALT_VERBOSE: invalid bool"}},
		{name: "flag", args: []string{"--small", "-1"}, wantErr: []string{`invalid argument "-1" for "--small" flag: invalid unsigned int "-1"`}},
		{name: "file unknown key", file: "nmae: x\n", wantErr: []string{`unknown key "nmae"`}},
		{name: "file bad type", file: "port: [1]\n", wantErr: []string{"port: want a scalar value"}},
		{name: "file bad duration", file: "timeout: 300\n", wantErr: []string{`timeout: invalid duration "300"`}},
		{name: "file not a mapping", file: "- a\n", wantErr: []string{"want a mapping"}},
		{name: "file null", file: "name:\n", wantErr: []string{"name: missing value"}},
		{name: "file config key", file: "config: x\n", wantErr: []string{`key "config" is not allowed`}},
		{name: "file NaN", file: "ratio: .nan\n", wantErr: []string{"NaN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tt.file))
			}
			cfg := defaults()
			err := load(t, &cfg, args, tt.env)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	cfg := defaults()
	err := load(t, &cfg, []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, nil)
	if err == nil || !strings.Contains(err.Error(), "config file") {
		t.Fatalf("err = %v, want a config file error", err)
	}
}

func TestBadBindTargets(t *testing.T) {
	type dup struct {
		A string `flag:"a"`
		B string `flag:"a"`
	}
	type badName struct {
		A string `flag:"Work_Dir"`
	}
	type badType struct {
		A []int `flag:"a"`
	}
	type reserved struct {
		A string `flag:"config"`
	}
	for _, target := range []any{&dup{}, &badName{}, &badType{}, &reserved{}, dup{}, (*dup)(nil)} {
		if _, err := Bind(pflag.NewFlagSet("x", pflag.ContinueOnError), target); err == nil {
			t.Errorf("Bind(%T) succeeded, want an error", target)
		}
	}
	// Duplicates across two targets bound together are caught too.
	a, b := &struct {
		X int `flag:"x"`
	}{}, &struct {
		X int `flag:"x"`
	}{}
	if _, err := Bind(pflag.NewFlagSet("x", pflag.ContinueOnError), a, b); err == nil {
		t.Error("duplicate across targets: want an error")
	}
}

func TestFieldsAndHelp(t *testing.T) {
	cfg := defaults()
	fields, err := Fields(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Flag+"|"+f.Env+"|"+f.Type+"|"+f.Default)
	}
	want := []string{
		"name|BASALT_NAME|string|def",
		"verbose|BASALT_VERBOSE|bool|false",
		"port|BASALT_PORT|int|5050",
		"count|BASALT_COUNT|int|7",
		"small|BASALT_SMALL|uint|3",
		"timeout|BASALT_TIMEOUT|duration|5s",
		"masters|BASALT_MASTERS|list|http://a:5050",
		"master|BASALT_MASTER_URL|string|",
		"weights|BASALT_WEIGHTS|map|*=1",
		"big|BASALT_BIG|uint|9",
		"ratio|BASALT_RATIO|float|0.5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	if _, err := Bind(fs, &cfg); err != nil {
		t.Fatal(err)
	}
	usage := fs.FlagUsages()
	for _, w := range []string{"--timeout duration", `(default 5s)`, "(env BASALT_TIMEOUT)", "--config string"} {
		if !strings.Contains(usage, w) {
			t.Errorf("usage lacks %q:\n%s", w, usage)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	cfg := defaults()
	cfg.Masters = []string{"a", "b"}
	cfg.Nested.Weights = map[string]float64{"x": 0.1, "y": 1e300}
	fields, err := Fields(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		probe := reflect.New(f.value.Type()).Elem()
		if err := parseInto(f.kind, probe, f.Default); err != nil {
			t.Errorf("--%s: parse(format(%v)): %v", f.Flag, f.value, err)
			continue
		}
		if !reflect.DeepEqual(probe.Interface(), f.value.Interface()) && !(f.value.Kind() == reflect.String && f.Default == "") {
			t.Errorf("--%s: round trip %v → %q → %v", f.Flag, f.value, f.Default, probe)
		}
	}
}
