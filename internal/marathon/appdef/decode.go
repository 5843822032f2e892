package appdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// Play JSON's error keys, which Marathon returns in 400 details.
const (
	errExpectedString  = "error.expected.jsstring"
	errExpectedNumber  = "error.expected.jsnumber"
	errExpectedInt     = "error.expected.int"
	errExpectedBool    = "error.expected.jsboolean"
	errExpectedArray   = "error.expected.jsarray"
	errExpectedObject  = "error.expected.jsobject"
	errPathMissing     = "error.path.missing"
	errInvalidJSON     = "error.json.invalid"
	errExpectedDisable = `error.expected.jsstring "disabled" or error.expected.jsobject`
)

// Types the schema walk treats specially (read-only).
var (
	envValueType    = reflect.TypeFor[marathon.EnvValue]()
	unreachableType = reflect.TypeFor[marathon.UnreachableStrategy]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	resLimitsType   = reflect.TypeFor[marathon.ResourceLimits]()
)

// The decoding pipeline, shared by apps, app arrays, merges and groups:
//
//	bytes --parseJSON--> generic tree --schema walk--> cleaned tree --json--> wire struct --resolve ids, Normalize
//
// The walk is there because encoding/json stops at the first type error,
// loses array indexes and matches keys case-insensitively, while Marathon
// (Play JSON) reports every mistyped field with its path, and applies
// defaults only to fields that are absent or null. The walk checks every
// value against the wire type by reflection, collects all errors, drops
// unknown keys and nulls, and fills defaults by presence; the cleaned tree
// then decodes without surprises.

// parseJSON decodes one JSON value with numbers kept as json.Number.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidJSON(errors.New("trailing data after the JSON value"))
	}
	return v, nil
}

func invalidJSON(err error) *DecodeError {
	return &DecodeError{Details: []marathon.ErrorDetail{{Path: "/", Errors: []string{errInvalidJSON, err.Error()}}}}
}

// walker checks a generic tree against a wire type and collects errors by path.
type walker struct {
	errs map[string][]string
}

func (w *walker) fail(path, msg string) {
	if w.errs == nil {
		w.errs = map[string][]string{}
	}
	if !slices.Contains(w.errs[path], msg) {
		w.errs[path] = append(w.errs[path], msg)
	}
}

// err is the collected errors as a *DecodeError, or nil.
func (w *walker) err() error {
	if len(w.errs) == 0 {
		return nil
	}
	return &DecodeError{Details: sortedDetails(w.errs)}
}

func sortedDetails(m map[string][]string) []marathon.ErrorDetail {
	out := make([]marathon.ErrorDetail, 0, len(m))
	for p, e := range m {
		out = append(out, marathon.ErrorDetail{Path: p, Errors: e})
	}
	slices.SortFunc(out, func(a, b marathon.ErrorDetail) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// sub is the path of a child: "/a" + key "b" -> "/a/b"; the root "" + "b" -> "/b".
func sub(path, key string) string { return path + "/" + key }

// idx is the path of an array element in Play's notation: "/a(0)".
func idx(path string, i int) string { return path + "(" + strconv.Itoa(i) + ")" }

// display is the path shown for the root value.
func display(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// walk checks v against t and returns the cleaned value (numbers converted
// to int64/float64, unknown keys and nulls dropped, defaults filled), or nil
// after recording an error.
func (w *walker) walk(t reflect.Type, v any, path string) any {
	switch t {
	case envValueType:
		return w.walkEnvValue(v, path)
	case unreachableType:
		return w.walkUnreachable(v, path)
	case rawMessageType:
		return v
	case resLimitsType:
		return w.walkResourceLimits(v, path)
	}
	switch t.Kind() {
	case reflect.Interface:
		return v
	case reflect.Pointer:
		return w.walk(t.Elem(), v, path)
	case reflect.String:
		if s, ok := v.(string); ok {
			return s
		}
		w.fail(display(path), errExpectedString)
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return b
		}
		w.fail(display(path), errExpectedBool)
	case reflect.Int, reflect.Int64, reflect.Int32:
		return w.walkInt(v, path)
	case reflect.Float64, reflect.Float32:
		return w.walkFloat(v, path)
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			w.fail(display(path), errExpectedArray)
			return nil
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = w.walk(t.Elem(), e, idx(path, i))
		}
		return out
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			w.fail(display(path), errExpectedObject)
			return nil
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			out[k] = w.walk(t.Elem(), e, sub(path, k))
		}
		return out
	case reflect.Struct:
		return w.walkStruct(t, v, path)
	default:
		// The wire types hold no other kinds; treat anything new as opaque.
		return v
	}
	return nil
}

func (w *walker) walkInt(v any, path string) any {
	n, ok := v.(json.Number)
	if !ok {
		w.fail(display(path), errExpectedNumber)
		return nil
	}
	if i, err := strconv.ParseInt(string(n), 10, 32); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		w.fail(display(path), errExpectedInt)
		return nil
	}
	return int64(f)
}

func (w *walker) walkFloat(v any, path string) any {
	n, ok := v.(json.Number)
	if !ok {
		w.fail(display(path), errExpectedNumber)
		return nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		w.fail(display(path), errExpectedNumber)
		return nil
	}
	return f
}

func (w *walker) walkEnvValue(v any, path string) any {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, ok := x["secret"].(string)
		if !ok {
			w.fail(sub(path, "secret"), errExpectedString)
			return nil
		}
		return map[string]any{"secret": s}
	}
	w.fail(display(path), errExpectedString)
	return nil
}

func (w *walker) walkUnreachable(v any, path string) any {
	switch x := v.(type) {
	case string:
		if x == "disabled" {
			return x
		}
	case map[string]any:
		out := map[string]any{}
		for _, k := range []string{"inactiveAfterSeconds", "expungeAfterSeconds"} {
			if e, ok := x[k]; ok && e != nil {
				out[k] = w.walkFloat(e, sub(path, k))
			}
		}
		return out
	}
	w.fail(display(path), errExpectedDisable)
	return nil
}

// walkResourceLimits accepts a number or "unlimited" for cpus and mem.
func (w *walker) walkResourceLimits(v any, path string) any {
	obj, ok := v.(map[string]any)
	if !ok {
		w.fail(display(path), errExpectedObject)
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"cpus", "mem"} {
		switch x := obj[k].(type) {
		case nil:
		case string:
			if x != "unlimited" {
				w.fail(sub(path, k), `error.expected.jsnumber or "unlimited"`)
				continue
			}
			out[k] = x
		default:
			if f := w.walkFloat(x, sub(path, k)); f != nil {
				out[k] = f
			}
		}
	}
	return out
}

func (w *walker) walkStruct(t reflect.Type, v any, path string) any {
	obj, ok := v.(map[string]any)
	if !ok {
		w.fail(display(path), errExpectedObject)
		return nil
	}
	out := map[string]any{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		e, present := obj[name]
		if !present || e == nil {
			continue // absent and null are the same: Play's readNullable / withDefault
		}
		if c := w.walk(f.Type, e, sub(path, name)); c != nil {
			out[name] = c
		}
	}
	for _, name := range requiredFields(t) {
		if _, ok := out[name]; !ok {
			if _, given := obj[name]; !given || obj[name] == nil {
				w.fail(sub(path, name), errPathMissing)
			}
		}
	}
	for name, d := range defaultFields(t) {
		if _, ok := out[name]; !ok {
			if _, given := obj[name]; !given || obj[name] == nil {
				out[name] = d
			}
		}
	}
	return out
}

// requiredFields are the fields without which an object is not decodable
// (Play reports error.path.missing). Most other omissions are validation
// problems, reported by ValidateApp with a readable message.
func requiredFields(t reflect.Type) []string {
	switch t {
	case reflect.TypeFor[marathon.Fetch]():
		return []string{"uri"}
	case reflect.TypeFor[marathon.Parameter]():
		return []string{"key", "value"}
	case reflect.TypeFor[marathon.SecretDef]():
		return []string{"source"}
	case reflect.TypeFor[marathon.Command]():
		return []string{"value"}
	case reflect.TypeFor[marathon.CheckExec]():
		return []string{"command"}
	case reflect.TypeFor[marathon.PullConfig]():
		return []string{"secret"}
	}
	return nil
}

// defaultFields are Marathon 1.10's defaults for fields that are absent or
// null (reference §2.3, §2.5). Defaults that depend on other fields
// (health check path and portIndex, ports, strategies of resident apps) are
// applied by Normalize.
func defaultFields(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[marathon.App]():
		return map[string]any{
			"cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0, "instances": 1,
			"backoffSeconds": 1.0, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300.0,
			"killSelection": "YOUNGEST_FIRST", "requirePorts": false, "executor": "",
		}
	case reflect.TypeFor[marathon.HealthCheck]():
		return map[string]any{
			"protocol": "HTTP", "gracePeriodSeconds": 300, "intervalSeconds": 60,
			"timeoutSeconds": 20, "maxConsecutiveFailures": 3, "delaySeconds": 15,
		}
	case reflect.TypeFor[marathon.ReadinessCheck]():
		return map[string]any{
			"name": "readinessCheck", "protocol": "HTTP", "path": "/", "portName": "http-api",
			"intervalSeconds": 30, "timeoutSeconds": 10, "httpStatusCodesForReady": []any{200},
			"preserveLastResponse": false,
		}
	case reflect.TypeFor[marathon.Check]():
		return map[string]any{"intervalSeconds": 60, "timeoutSeconds": 20, "delaySeconds": 15}
	case reflect.TypeFor[marathon.Fetch]():
		return map[string]any{"extract": true, "executable": false, "cache": false}
	case reflect.TypeFor[marathon.Container]():
		return map[string]any{"type": "DOCKER"}
	case reflect.TypeFor[marathon.PortDefinition]():
		return map[string]any{"port": 0, "protocol": "tcp"}
	case reflect.TypeFor[marathon.PortMapping]():
		return map[string]any{"containerPort": 0, "servicePort": 0, "protocol": "tcp"}
	case reflect.TypeFor[marathon.Network]():
		return map[string]any{"mode": "container"}
	case reflect.TypeFor[marathon.ExecutorResources]():
		return map[string]any{"cpus": 0.1, "mem": 32.0, "disk": 10.0}
	case reflect.TypeFor[marathon.UpgradeStrategy]():
		return map[string]any{"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
	case reflect.TypeFor[marathon.Residency]():
		return map[string]any{"relaunchEscalationTimeoutSeconds": 3600, "taskLostBehavior": "WAIT_FOREVER"}
	}
	return nil
}

// decodeInto walks v against out's type and decodes the cleaned tree into out.
func decodeInto(v any, out any) error {
	var w walker
	clean := w.walk(reflect.TypeOf(out).Elem(), v, "")
	if err := w.err(); err != nil {
		return err
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return invalidJSON(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		// The walk accepted the tree, so this is a gap between the walk and
		// the wire types; report it as a bad body rather than panic.
		return invalidJSON(err)
	}
	return nil
}

// DecodeApp decodes one submitted app, resolves its id against base,
// applies defaults and normalises it. It does not validate. An absent id
// stays empty and a malformed one is kept as given (joined to base when
// relative), so that ValidateApp reports it at "/id".
func DecodeApp(data []byte, base string) (marathon.App, error) {
	v, err := parseJSON(data)
	if err != nil {
		return marathon.App{}, err
	}
	return decodeAppValue(v, base)
}

func decodeAppValue(v any, base string) (marathon.App, error) {
	if _, ok := v.(map[string]any); !ok {
		return marathon.App{}, &DecodeError{Details: []marathon.ErrorDetail{{Path: "/", Errors: []string{errExpectedObject}}}}
	}
	var app marathon.App
	if err := decodeInto(v, &app); err != nil {
		return marathon.App{}, err
	}
	resolveAppIDs(&app, base)
	Normalize(&app)
	return app, nil
}

// resolveAppIDs makes the app's id absolute against base and its
// dependencies absolute against the app's parent group.
func resolveAppIDs(app *marathon.App, base string) {
	app.ID = resolveLoose(app.ID, base)
	parent := Parent(app.ID)
	for i, d := range app.Dependencies {
		app.Dependencies[i] = resolveLoose(d, parent)
	}
}

// DecodeApps decodes a JSON array of apps (PUT/PATCH /v2/apps) into raw
// objects, each to be decoded or merged on its own; ids gets each object's
// canonical "id" (required, resolved against the root).
func DecodeApps(data []byte) (raws [][]byte, ids []string, err error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, nil, &DecodeError{Details: []marathon.ErrorDetail{{Path: "/", Errors: []string{errExpectedArray}}}}
	}
	var w walker
	bad := map[string][]string{}
	for i, e := range arr {
		obj, ok := e.(map[string]any)
		if !ok {
			w.fail(idx("", i), errExpectedObject)
			continue
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			w.fail(idx("", i), errInvalidJSON)
			continue
		}
		raws = append(raws, raw)
		switch id := obj["id"].(type) {
		case nil:
			w.fail(idx("", i)+"/id", errPathMissing)
		case string:
			c, err := CanonicalID(id, "/")
			if err != nil || c == "/" {
				bad[idx("", i)+"/id"] = []string{idSyntaxMessage}
			}
			ids = append(ids, c)
		default:
			w.fail(idx("", i)+"/id", errExpectedString)
		}
	}
	if err := w.err(); err != nil {
		return nil, nil, err
	}
	if len(bad) > 0 {
		return nil, nil, &ValidationError{Details: sortedDetails(bad)}
	}
	return raws, ids, nil
}

// MergeApp applies a partial update to existing: top-level fields present in
// patch replace existing's, absent ones are kept (Marathon's partialUpdate and
// PATCH semantics); the result is normalised.
//
// A null field in patch counts as absent (Play reads it as None). Fields
// that replace one another are replaced together: a patch with cmd drops
// existing args (and the other way round), ports or portDefinitions drop
// both old forms, uris drops the old fetch, networks without port
// definitions lets them take the new mode's default. An "id" in patch must
// resolve (against existing's parent) to existing's id.
func MergeApp(existing marathon.App, patch []byte) (marathon.App, error) {
	v, err := parseJSON(patch)
	if err != nil {
		return marathon.App{}, err
	}
	p, ok := v.(map[string]any)
	if !ok {
		return marathon.App{}, &DecodeError{Details: []marathon.ErrorDetail{{Path: "/", Errors: []string{errExpectedObject}}}}
	}
	if id, present := p["id"]; present && id != nil {
		s, ok := id.(string)
		if !ok {
			return marathon.App{}, &DecodeError{Details: []marathon.ErrorDetail{{Path: "/id", Errors: []string{errExpectedString}}}}
		}
		if resolveLoose(s, Parent(existing.ID)) != existing.ID {
			return marathon.App{}, &ValidationError{Details: []marathon.ErrorDetail{{Path: "/id",
				Errors: []string{fmt.Sprintf("does not match the id of the app being updated (%s)", existing.ID)}}}}
		}
	}
	merged, err := appToMap(existing)
	if err != nil {
		return marathon.App{}, fmt.Errorf("merge app %s: %w", existing.ID, err)
	}
	given := func(k string) bool { return p[k] != nil }
	replaces := map[string][]string{
		"cmd":             {"args"},
		"args":            {"cmd"},
		"ports":           {"portDefinitions", "ports"},
		"portDefinitions": {"ports"},
		"uris":            {"fetch"},
		"networks":        {"portDefinitions"},
	}
	for k, drops := range replaces {
		if !given(k) {
			continue
		}
		for _, d := range drops {
			if !given(d) {
				delete(merged, d)
			}
		}
	}
	for k, e := range p {
		if e != nil && k != "id" {
			merged[k] = e
		}
	}
	merged["id"] = existing.ID
	app, err := decodeAppValue(merged, Parent(existing.ID))
	if err != nil {
		return marathon.App{}, err
	}
	return app, nil
}

// appToMap is the generic JSON form of an app, as the decoder reads it.
// It writes an empty container.portMappings as [] where the wire type's
// omitempty would drop it, so that "no ports" does not turn into the
// default mapping on the way back.
func appToMap(app marathon.App) (map[string]any, error) {
	b, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("encode app: %w", err)
	}
	v, err := parseJSON(b)
	if err != nil {
		return nil, fmt.Errorf("decode app: %w", err)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		return nil, errors.New("decode app: not an object")
	}
	if app.Container != nil && app.Container.PortMappings != nil && len(app.Container.PortMappings) == 0 {
		if c, ok := m["container"].(map[string]any); ok {
			c["portMappings"] = []any{}
		}
	}
	return m, nil
}

// DecodeGroup decodes a submitted group (with nested apps and groups),
// resolving ids against base and normalising every app. The group's own id
// is resolved against base (absent: base itself); nested apps' and groups'
// ids and all dependencies are resolved against their group. Absent apps,
// groups, pods and dependencies stay nil (an update that leaves them alone).
func DecodeGroup(data []byte, base string) (marathon.Group, error) {
	v, err := parseJSON(data)
	if err != nil {
		return marathon.Group{}, err
	}
	if _, ok := v.(map[string]any); !ok {
		return marathon.Group{}, &DecodeError{Details: []marathon.ErrorDetail{{Path: "/", Errors: []string{errExpectedObject}}}}
	}
	var g marathon.Group
	if err := decodeInto(v, &g); err != nil {
		return marathon.Group{}, err
	}
	if g.ID == "" {
		g.ID = resolveLoose(base, "/")
		if g.ID == "" {
			g.ID = "/"
		}
	} else {
		g.ID = resolveLoose(g.ID, base)
	}
	resolveGroup(&g)
	return g, nil
}

// resolveGroup resolves the ids below g (whose id is already absolute) and
// normalises its apps.
func resolveGroup(g *marathon.Group) {
	for i := range g.Dependencies {
		g.Dependencies[i] = resolveLoose(g.Dependencies[i], g.ID)
	}
	for i := range g.Apps {
		resolveAppIDs(&g.Apps[i], g.ID)
		Normalize(&g.Apps[i])
	}
	for i := range g.Groups {
		g.Groups[i].ID = resolveLoose(g.Groups[i].ID, g.ID)
		resolveGroup(&g.Groups[i])
	}
}
