// Package config binds a component's Config struct to its four sources, in
// increasing precedence: the package's defaults (the struct's values when it
// is bound), a config file (--config, YAML or JSON keyed by flag names),
// BASALT_* environment variables, and command-line flags.
//
// The contract for Config structs: every exported field that is configurable
// carries `flag:"kebab-name"` and `help:"text"` tags; an optional
// `env:"NAME"` tag overrides the derived environment name (BASALT_ + upper
// snake of the flag name). Nested structs without a flag tag, named or
// embedded, are walked and their fields flattened, so flag names must be
// unique across everything bound together. Supported field types are listed
// in parse.go.
//
// This package knows nothing about particular components and must not
// import them; it does no I/O except reading the config file in Load.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// ConfigFlag is the flag (and, upper-snaked, the BASALT_CONFIG environment
// variable) that names the config file.
const ConfigFlag = "config"

// EnvPrefix is prepended to the upper-snake flag name to form a field's
// environment variable name.
const EnvPrefix = "BASALT_"

// Field describes one bound configuration field.
type Field struct {
	Flag    string // kebab-case flag name, also the config file key
	Env     string // environment variable name
	Help    string
	Type    string // type name shown in help: string, int, duration, list, map...
	Default string // the value at bind time, formatted as a flag value

	value reflect.Value
	kind  kind
}

// Loader holds the fields of the structs bound to one flag set. Create it
// with Bind, let the flag set parse the command line, then call Load.
type Loader struct {
	fs         *pflag.FlagSet
	fields     []*Field
	byFlag     map[string]*Field
	configFlag *pflag.Flag
	flagValues map[string]*flagValue
}

// Fields walks the structs pointed to by targets and returns their fields in
// declaration order, without registering anything. It reports an error for
// an unsupported field type, a missing flag tag on a non-struct exported
// field, or a duplicated flag name.
func Fields(targets ...any) ([]*Field, error) {
	var out []*Field
	seen := map[string]bool{ConfigFlag: true}
	for _, t := range targets {
		v := reflect.ValueOf(t)
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return nil, fmt.Errorf("config: bind target must be a non-nil pointer to a struct, got %T", t)
		}
		if err := walk(v.Elem(), &out, seen); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func walk(v reflect.Value, out *[]*Field, seen map[string]bool) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, tagged := sf.Tag.Lookup("flag")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if !tagged {
			if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
				if err := walk(fv, out, seen); err != nil {
					return err
				}
				continue
			}
			if sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct && sf.Anonymous {
				return fmt.Errorf("config: %s.%s: embedded pointers are not supported", t.Name(), sf.Name)
			}
			// Untagged scalar fields are not configuration (for example
			// runtime collaborators a test sets); leave them alone.
			continue
		}
		if !validFlagName(name) {
			return fmt.Errorf("config: %s.%s: invalid flag name %q (want kebab-case)", t.Name(), sf.Name, name)
		}
		if seen[name] {
			return fmt.Errorf("config: %s.%s: duplicate flag name %q", t.Name(), sf.Name, name)
		}
		seen[name] = true
		k, ok := kindOf(sf.Type)
		if !ok {
			return fmt.Errorf("config: %s.%s (--%s): unsupported type %s", t.Name(), sf.Name, name, sf.Type)
		}
		env := sf.Tag.Get("env")
		if env == "" {
			env = EnvName(name)
		}
		*out = append(*out, &Field{
			Flag:    name,
			Env:     env,
			Help:    sf.Tag.Get("help"),
			Type:    k.typeName(),
			Default: format(k, fv),
			value:   fv,
			kind:    k,
		})
	}
	return nil
}

func validFlagName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// EnvName is the environment variable for a flag: BASALT_ + upper snake case
// ("work-dir" → "BASALT_WORK_DIR").
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Bind registers a flag on fs for every field of the structs pointed to by
// targets, plus --config unless fs already has it. The structs' current
// values are the defaults (shown in --help). Flags only record what the user
// typed; nothing is written to the structs until Load, so that precedence
// does not depend on parse order.
func Bind(fs *pflag.FlagSet, targets ...any) (*Loader, error) {
	fields, err := Fields(targets...)
	if err != nil {
		return nil, err
	}
	l := &Loader{
		fs:         fs,
		fields:     fields,
		byFlag:     make(map[string]*Field, len(fields)),
		flagValues: make(map[string]*flagValue, len(fields)),
	}
	for _, f := range fields {
		if fs.Lookup(f.Flag) != nil {
			return nil, fmt.Errorf("config: flag --%s is already defined", f.Flag)
		}
		l.byFlag[f.Flag] = f
		fv := &flagValue{field: f, shown: f.Default}
		l.flagValues[f.Flag] = fv
		help := f.Help
		if f.Env != "" {
			help += " (env " + f.Env + ")"
		}
		pf := fs.VarPF(fv, f.Flag, "", help)
		if f.kind == kindBool {
			pf.NoOptDefVal = "true"
		}
	}
	l.configFlag = fs.Lookup(ConfigFlag)
	if l.configFlag == nil {
		fs.String(ConfigFlag, "", "config file, YAML or JSON, keyed by flag names (env "+EnvName(ConfigFlag)+")")
		l.configFlag = fs.Lookup(ConfigFlag)
	}
	return l, nil
}

// Fields returns the bound fields in declaration order.
func (l *Loader) Fields() []*Field { return l.fields }

// Load writes the config file's values, then the environment's, then the
// flags the user set, into the bound structs. lookupEnv is normally
// os.LookupEnv; nil means no environment. Errors name their source, for
// example "BASALT_PORT: invalid int \"x\"".
func (l *Loader) Load(lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	path := ""
	if l.configFlag.Changed {
		path = l.configFlag.Value.String()
	} else if p, ok := lookupEnv(EnvName(ConfigFlag)); ok {
		path = p
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := l.LoadFile(path, data); err != nil {
			return err
		}
	}
	var errs []error
	for _, f := range l.fields {
		s, ok := lookupEnv(f.Env)
		if !ok {
			continue
		}
		if err := setString(f, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Env, err))
		}
	}
	for _, f := range l.fields {
		fv := l.flagValues[f.Flag]
		if !fv.set {
			continue
		}
		if err := setString(f, fv.raw); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.Flag, err))
		}
	}
	return errors.Join(errs...)
}

// LoadFile applies a config file's contents (YAML or JSON; JSON is YAML) to
// the bound structs. name is used in error messages. Unknown keys are
// errors, so that a typo does not silently fall back to a default.
func (l *Loader) LoadFile(name string, data []byte) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("config file %s: want a mapping of flag names to values: %w", name, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if k == ConfigFlag {
			errs = append(errs, fmt.Errorf("config file %s: key %q is not allowed in a config file", name, k))
			continue
		}
		f, ok := l.byFlag[k]
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", name, k))
			continue
		}
		if err := setJSON(f, doc[k]); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", name, k, err))
		}
	}
	return errors.Join(errs...)
}

// flagValue is the pflag.Value of a bound field: it records the raw text and
// validates it at parse time, so that a bad flag fails as early as cobra's
// own parsing, but writes the struct only in Load.
type flagValue struct {
	field *Field
	shown string
	raw   string
	set   bool
}

func (v *flagValue) String() string { return v.shown }
func (v *flagValue) Type() string   { return v.field.Type }

func (v *flagValue) Set(s string) error {
	if v.field.kind == kindStrings && v.set {
		// Repeated list flags accumulate, as with pflag's StringSlice.
		s = v.raw + "," + s
	}
	probe := reflect.New(v.field.value.Type()).Elem()
	if err := parseInto(v.field.kind, probe, s); err != nil {
		return err
	}
	v.raw, v.shown, v.set = s, s, true
	return nil
}

func setString(f *Field, s string) error {
	// Parse into a fresh value first so a bad input leaves the field as it was.
	probe := reflect.New(f.value.Type()).Elem()
	if err := parseInto(f.kind, probe, s); err != nil {
		return err
	}
	f.value.Set(probe)
	return nil
}
