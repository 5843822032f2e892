package clusterstore

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Config is the content of a cluster's cluster.toml: dotted keys such as
// "core.dcos_url" mapped to values, as dcos-cli's dcos.toml holds them.
//
// The file format is the subset of TOML that such a file needs: [section]
// headers (dotted names allowed), key = value lines, # comments, and values
// that are basic ("...") or literal ('...') strings, booleans or integers.
// Arrays, inline tables, multi-line strings, floats and dates are rejected
// with an error naming the line, rather than half-understood. A TOML library
// would read more, but this file is written by basalt and edited by hand at
// most, and 150 lines that the fuzz test covers are easier to trust than a
// dependency that reads far more than we use.
type Config struct {
	values map[string]value
}

type value struct {
	text string
	bare bool // a boolean or an integer, written without quotes
}

// NewConfig returns an empty config.
func NewConfig() *Config { return &Config{values: map[string]value{}} }

// Get returns the value of a dotted key as text.
func (c *Config) Get(key string) (string, bool) {
	v, ok := c.values[key]
	return v.text, ok
}

// ValidKey reports whether key can be written to the file: dot-separated
// parts of letters, digits, '_' and '-'. Set and SetBare expect valid keys.
func ValidKey(key string) bool { return validDottedKey(key) }

// Set sets a string value.
func (c *Config) Set(key, text string) { c.values[key] = value{text: text} }

// SetBare sets a value written without quotes: "true", "false" or an
// integer. Anything else is stored as a string.
func (c *Config) SetBare(key, text string) {
	c.values[key] = value{text: text, bare: isBool(text) || isInt(text)}
}

// Unset removes a key; it reports whether it was there.
func (c *Config) Unset(key string) bool {
	_, ok := c.values[key]
	delete(c.values, key)
	return ok
}

// Keys returns the keys in sorted order.
func (c *Config) Keys() []string {
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	out := NewConfig()
	for k, v := range c.values {
		out.values[k] = v
	}
	return out
}

// ParseConfig reads a cluster.toml. Errors name the line.
func ParseConfig(data []byte) (*Config, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("cluster.toml: not UTF-8 text")
	}
	c := NewConfig()
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			name, rest, ok := strings.Cut(line[1:], "]")
			if !ok || strings.HasPrefix(line, "[[") {
				return nil, fmt.Errorf("cluster.toml:%d: want a [section] header", n)
			}
			if err := trailing(rest); err != nil {
				return nil, fmt.Errorf("cluster.toml:%d: %w", n, err)
			}
			name = strings.TrimSpace(name)
			if !validDottedKey(name) {
				return nil, fmt.Errorf("cluster.toml:%d: invalid section name %q", n, name)
			}
			section = name
			continue
		}
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("cluster.toml:%d: want key = value", n)
		}
		k = strings.TrimSpace(k)
		if !validDottedKey(k) {
			return nil, fmt.Errorf("cluster.toml:%d: invalid key %q", n, k)
		}
		if section != "" {
			k = section + "." + k
		}
		v, err := parseValue(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("cluster.toml:%d: %s: %w", n, k, err)
		}
		if _, dup := c.values[k]; dup {
			return nil, fmt.Errorf("cluster.toml:%d: %s is set twice", n, k)
		}
		c.values[k] = v
	}
	return c, nil
}

func parseValue(s string) (value, error) {
	switch {
	case s == "":
		return value{}, errors.New("missing value")
	case strings.HasPrefix(s, `"""`), strings.HasPrefix(s, "'''"):
		return value{}, errors.New("multi-line strings are not supported")
	case s[0] == '"':
		text, rest, err := unquoteBasic(s[1:])
		if err != nil {
			return value{}, err
		}
		return value{text: text}, trailing(rest)
	case s[0] == '\'':
		text, rest, ok := strings.Cut(s[1:], "'")
		if !ok {
			return value{}, errors.New("unterminated string")
		}
		if strings.ContainsFunc(text, isControl) {
			return value{}, errors.New("control character in string")
		}
		return value{text: text}, trailing(rest)
	}
	word, _, _ := strings.Cut(s, "#")
	word = strings.TrimSpace(word)
	if isBool(word) || isInt(word) {
		return value{text: word, bare: true}, nil
	}
	return value{}, fmt.Errorf("unsupported value %q (want a quoted string, true, false or an integer)", word)
}

// unquoteBasic reads a TOML basic string body up to its closing quote and
// returns the text and what follows the quote.
func unquoteBasic(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			return b.String(), s[i+1:], nil
		case r == '\\':
			if i+1 >= len(s) {
				return "", "", errors.New("unterminated string")
			}
			esc := s[i+1]
			i += 2
			switch esc {
			case '"', '\\':
				b.WriteByte(esc)
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'u', 'U':
				w := 4
				if esc == 'U' {
					w = 8
				}
				if i+w > len(s) {
					return "", "", errors.New("short unicode escape")
				}
				code, err := strconv.ParseUint(s[i:i+w], 16, 32)
				if err != nil || !utf8.ValidRune(rune(code)) {
					return "", "", fmt.Errorf("invalid unicode escape %q", s[i-2:i+w])
				}
				b.WriteRune(rune(code))
				i += w
			default:
				return "", "", fmt.Errorf("invalid escape \\%c", esc)
			}
			continue
		case isControl(r) && r != '\t':
			return "", "", errors.New("control character in string")
		}
		b.WriteRune(r)
		i += size
	}
	return "", "", errors.New("unterminated string")
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// trailing accepts what may follow a value or header: spaces and a comment.
func trailing(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest == "" || rest[0] == '#' {
		return nil
	}
	return fmt.Errorf("unexpected %q after the value", rest)
}

func isBool(s string) bool { return s == "true" || s == "false" }

func isInt(s string) bool {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	if t == "" || (len(t) > 1 && t[0] == '0') {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func validBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validDottedKey(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !validBareKey(part) {
			return false
		}
	}
	return true
}

// Encode writes the config back as TOML: top-level keys first, then one
// [section] per prefix, keys sorted, strings quoted and escaped.
func (c *Config) Encode() []byte {
	var buf bytes.Buffer
	bySection := map[string][]string{}
	var sections []string
	for _, k := range c.Keys() {
		sec, key := "", k
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			sec, key = k[:i], k[i+1:]
		}
		if _, seen := bySection[sec]; !seen {
			sections = append(sections, sec)
		}
		bySection[sec] = append(bySection[sec], key)
	}
	sort.Strings(sections) // "" sorts first: top-level keys precede any header
	for i, sec := range sections {
		if sec != "" {
			if i > 0 {
				buf.WriteByte('\n')
			}
			fmt.Fprintf(&buf, "[%s]\n", sec)
		}
		for _, key := range bySection[sec] {
			full := key
			if sec != "" {
				full = sec + "." + key
			}
			v := c.values[full]
			if v.bare {
				fmt.Fprintf(&buf, "%s = %s\n", key, v.text)
			} else {
				fmt.Fprintf(&buf, "%s = %s\n", key, quoteBasic(v.text))
			}
		}
	}
	return buf.Bytes()
}

func quoteBasic(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		case r == utf8.RuneError:
			b.WriteString(`\uFFFD`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
