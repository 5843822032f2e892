package config

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzParseValue feeds arbitrary text to every kind's env/flag parser and to
// the config-file path. Parsing must not panic, and a value that parses must
// survive format → parse unchanged (what --help shows is what you get).
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{
		"", "0", "-1", "0x1f", "18446744073709551615", "true", "maybe", "1.5", "NaN", "-Inf", "1e309",
		"300s", "5m", "1h30m", "-2ms", "a,b,,c", " a , b ", "role=2,other=1", "=1", "a=", "a=b", "a=1,a=2",
		`"quoted"`, "[1,2]", "{}", "null", "\x00",
	} {
		f.Add(s)
	}
	types := []reflect.Type{
		reflect.TypeFor[string](), reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[float64](),
		reflect.TypeFor[time.Duration](), reflect.TypeFor[[]string](), reflect.TypeFor[map[string]float64](),
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range types {
			k, ok := kindOf(typ)
			if !ok {
				t.Fatalf("kindOf(%s) unsupported", typ)
			}
			v := reflect.New(typ).Elem()
			if err := parseInto(k, v, s); err != nil {
				continue
			}
			text := format(k, v)
			again := reflect.New(typ).Elem()
			if err := parseInto(k, again, text); err != nil {
				t.Fatalf("%s: %q parsed, but its formatted form %q does not: %v", typ, s, text, err)
			}
			if format(k, again) != text {
				t.Fatalf("%s: %q → %q → %q, not stable", typ, s, text, format(k, again))
			}

			// The config-file path accepts the same text as a JSON string.
			raw, _ := json.Marshal(s)
			fld := &Field{value: reflect.New(typ).Elem(), kind: k}
			if err := setJSON(fld, raw); err != nil {
				t.Fatalf("%s: %q parses from env but not from a file: %v", typ, s, err)
			}
		}
	})
}
