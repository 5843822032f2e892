package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kind is how a field's text form is parsed. Supported field types (and
// named types over them):
//
//	string                 as is
//	bool                   strconv.ParseBool (true, false, 1, 0, t, f...)
//	int, int8..int64       decimal (0x/0o/0b prefixes accepted)
//	uint, uint8..uint64    decimal (0x/0o/0b prefixes accepted)
//	float32, float64       decimal, finite
//	time.Duration          Go duration: "300s", "5m", "1h30m"
//	[]string               "a,b,c" in env and flags; a list in the file
//	map[string]float64     "role=2,other=1" in env and flags; a mapping in the file
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindUint
	kindFloat
	kindDuration
	kindStrings
	kindFloatMap
)

// durationType is read-only.
var durationType = reflect.TypeFor[time.Duration]()

func kindOf(t reflect.Type) (kind, bool) {
	if t == durationType {
		return kindDuration, true
	}
	switch t.Kind() {
	case reflect.String:
		return kindString, true
	case reflect.Bool:
		return kindBool, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return kindUint, true
	case reflect.Float32, reflect.Float64:
		return kindFloat, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return kindStrings, true
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && (t.Elem().Kind() == reflect.Float64 || t.Elem().Kind() == reflect.Float32) {
			return kindFloatMap, true
		}
	}
	return 0, false
}

func (k kind) typeName() string {
	switch k {
	case kindString:
		return "string"
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	case kindUint:
		return "uint"
	case kindFloat:
		return "float"
	case kindDuration:
		return "duration"
	case kindStrings:
		return "list"
	case kindFloatMap:
		return "map"
	}
	return "?"
}

// parseInto parses s, the env/flag text form of kind k, into v (settable).
func parseInto(k kind, v reflect.Value, s string) error {
	switch k {
	case kindString:
		v.SetString(s)
	case kindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid bool %q", s)
		}
		v.SetBool(b)
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid int %q", s)
		}
		v.SetInt(n)
	case kindUint:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned int %q", s)
		}
		v.SetUint(n)
	case kindFloat:
		f, err := parseFloat(s, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case kindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 300s, 5m, 1h30m)", s)
		}
		v.SetInt(int64(d))
	case kindStrings:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		sl := reflect.MakeSlice(v.Type(), len(list), len(list))
		for i, p := range list {
			sl.Index(i).SetString(p)
		}
		v.Set(sl)
	case kindFloatMap:
		m := reflect.MakeMap(v.Type())
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			key, val, ok := strings.Cut(p, "=")
			key = strings.TrimSpace(key)
			if !ok || key == "" {
				return fmt.Errorf("invalid map entry %q (want key=number)", p)
			}
			f, err := parseFloat(val, v.Type().Elem().Bits())
			if err != nil {
				return fmt.Errorf("map entry %q: %w", key, err)
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), reflect.ValueOf(f).Convert(v.Type().Elem()))
		}
		v.Set(m)
	default:
		return fmt.Errorf("unsupported kind %d", k)
	}
	return nil
}

func parseFloat(s string, bits int) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), bits)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return f, nil
}

// format renders v in the env/flag text form, so that format then parse is
// the identity (for defaults shown in --help).
func format(k kind, v reflect.Value) string {
	switch k {
	case kindString:
		return v.String()
	case kindBool:
		return strconv.FormatBool(v.Bool())
	case kindInt:
		return strconv.FormatInt(v.Int(), 10)
	case kindUint:
		return strconv.FormatUint(v.Uint(), 10)
	case kindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits())
	case kindDuration:
		return time.Duration(v.Int()).String()
	case kindStrings:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	case kindFloatMap:
		parts := make([]string, 0, v.Len())
		for _, key := range v.MapKeys() {
			parts = append(parts, key.String()+"="+strconv.FormatFloat(v.MapIndex(key).Float(), 'g', -1, 64))
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	return ""
}

// setJSON applies one config-file value. Scalars may be given as JSON
// scalars or as strings in the env/flag form; lists as arrays or a
// comma-separated string; maps as objects or a "k=v,..." string.
func setJSON(f *Field, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New("missing value")
	}
	probe := reflect.New(f.value.Type()).Elem()
	switch {
	case f.kind == kindStrings && raw[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("invalid list: %w", err)
		}
		sl := reflect.MakeSlice(probe.Type(), len(items), len(items))
		for i, it := range items {
			s, err := scalarText(it)
			if err != nil {
				return fmt.Errorf("list item %d: %w", i, err)
			}
			sl.Index(i).SetString(s)
		}
		probe.Set(sl)
	case f.kind == kindFloatMap && raw[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("invalid mapping: %w", err)
		}
		out := reflect.MakeMap(probe.Type())
		for key, it := range m {
			s, err := scalarText(it)
			if err != nil {
				return fmt.Errorf("map entry %q: %w", key, err)
			}
			n, err := parseFloat(s, probe.Type().Elem().Bits())
			if err != nil {
				return fmt.Errorf("map entry %q: %w", key, err)
			}
			out.SetMapIndex(reflect.ValueOf(key).Convert(probe.Type().Key()), reflect.ValueOf(n).Convert(probe.Type().Elem()))
		}
		probe.Set(out)
	default:
		s, err := scalarText(raw)
		if err != nil {
			return err
		}
		if err := parseInto(f.kind, probe, s); err != nil {
			return err
		}
	}
	f.value.Set(probe)
	return nil
}

// scalarText returns the text of a JSON string, number or bool.
func scalarText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("missing value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", errors.New("want a scalar value, got a mapping or list")
	case 'n':
		return "", errors.New("missing value")
	}
	return string(raw), nil
}
