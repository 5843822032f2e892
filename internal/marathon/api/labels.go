package api

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// labelSelector is a parsed label= filter of GET /v2/apps: a
// comma-separated list of terms that must all match.
//
//	selector := term ( "," term )*
//	term     := key                        the label is present
//	          | key "==" value             present and equal
//	          | key "!=" value             present and different
//	          | key "in" "(" values ")"    present and one of values
//	          | key "notin" "(" values ")" present and none of values
//	values   := value ( "," value )*
//
// Keys and values are runs of characters other than whitespace and
// ! = , ( ); a backslash makes the next character literal. As in Marathon,
// every term requires the label to be present, "!=" and "notin" included.
type labelSelector []labelTerm

// labelTerm is one term; op is "" for a presence test.
type labelTerm struct {
	key    string
	op     string // "", "==", "!=", "in", "notin"
	values []string
}

// matches reports whether labels satisfy every term.
func (s labelSelector) matches(labels map[string]string) bool {
	for _, t := range s {
		v, ok := labels[t.key]
		if !ok {
			return false
		}
		switch t.op {
		case "==":
			ok = v == t.values[0]
		case "!=":
			ok = v != t.values[0]
		case "in":
			ok = slices.Contains(t.values, v)
		case "notin":
			ok = !slices.Contains(t.values, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// String renders s in the syntax parseLabelSelector reads, escaping what
// needs it, so that parsing the result gives s back.
func (s labelSelector) String() string {
	var b strings.Builder
	for i, t := range s {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(escapeLabelWord(t.key))
		switch t.op {
		case "==", "!=":
			b.WriteString(t.op + escapeLabelWord(t.values[0]))
		case "in", "notin":
			b.WriteString(" " + t.op + " (")
			for j, v := range t.values {
				if j > 0 {
					b.WriteString(",")
				}
				b.WriteString(escapeLabelWord(v))
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

func escapeLabelWord(w string) string {
	var b strings.Builder
	for _, r := range w {
		if isLabelSpecial(r) || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isLabelSpecial(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("!=,()", r)
}

// Token kinds of the selector lexer.
const (
	tokWord = iota
	tokEq
	tokNe
	tokLParen
	tokRParen
	tokComma
)

type labelToken struct {
	kind    int
	text    string // the word, unescaped
	escaped bool   // the word used a backslash (so it is never a keyword)
}

// lexLabelSelector splits s into tokens.
func lexLabelSelector(s string) ([]labelToken, error) {
	var toks []labelToken
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == ',':
			toks = append(toks, labelToken{kind: tokComma})
			i++
		case r == '(':
			toks = append(toks, labelToken{kind: tokLParen})
			i++
		case r == ')':
			toks = append(toks, labelToken{kind: tokRParen})
			i++
		case r == '=' || r == '!':
			if i+1 >= len(rs) || rs[i+1] != '=' {
				return nil, fmt.Errorf("unexpected %q at offset %d (operators are ==, !=, in, notin)", r, i)
			}
			kind := tokEq
			if r == '!' {
				kind = tokNe
			}
			toks = append(toks, labelToken{kind: kind})
			i += 2
		default:
			var b strings.Builder
			escaped := false
			for i < len(rs) {
				r = rs[i]
				if r == '\\' {
					if i+1 >= len(rs) {
						return nil, fmt.Errorf("dangling backslash at the end")
					}
					b.WriteRune(rs[i+1])
					escaped = true
					i += 2
					continue
				}
				if isLabelSpecial(r) {
					break
				}
				b.WriteRune(r)
				i++
			}
			toks = append(toks, labelToken{kind: tokWord, text: b.String(), escaped: escaped})
		}
	}
	return toks, nil
}

// parseLabelSelector parses a label= value (see labelSelector).
func parseLabelSelector(s string) (labelSelector, error) {
	toks, err := lexLabelSelector(s)
	if err != nil {
		return nil, fmt.Errorf("invalid label selector %q: %w", s, err)
	}
	p := &labelParser{toks: toks}
	var sel labelSelector
	for {
		t, err := p.term()
		if err != nil {
			return nil, fmt.Errorf("invalid label selector %q: %w", s, err)
		}
		sel = append(sel, t)
		if p.done() {
			return sel, nil
		}
		if p.next().kind != tokComma {
			return nil, fmt.Errorf("invalid label selector %q: expected ',' between terms", s)
		}
	}
}

type labelParser struct {
	toks []labelToken
	pos  int
}

func (p *labelParser) done() bool { return p.pos >= len(p.toks) }

func (p *labelParser) peek() (labelToken, bool) {
	if p.done() {
		return labelToken{}, false
	}
	return p.toks[p.pos], true
}

// next consumes a token; past the end it returns an impossible kind.
func (p *labelParser) next() labelToken {
	if p.done() {
		return labelToken{kind: -1}
	}
	p.pos++
	return p.toks[p.pos-1]
}

func (p *labelParser) word(what string) (string, error) {
	t := p.next()
	if t.kind != tokWord {
		return "", fmt.Errorf("expected %s", what)
	}
	return t.text, nil
}

func (p *labelParser) term() (labelTerm, error) {
	key, err := p.word("a label key")
	if err != nil {
		return labelTerm{}, err
	}
	t := labelTerm{key: key}
	op, ok := p.peek()
	if !ok || op.kind == tokComma {
		return t, nil
	}
	p.pos++
	switch {
	case op.kind == tokEq || op.kind == tokNe:
		t.op = "=="
		if op.kind == tokNe {
			t.op = "!="
		}
		v, err := p.word("a value after " + t.op)
		if err != nil {
			return labelTerm{}, err
		}
		t.values = []string{v}
		return t, nil
	case op.kind == tokWord && !op.escaped && (op.text == "in" || op.text == "notin"):
		t.op = op.text
		if p.next().kind != tokLParen {
			return labelTerm{}, fmt.Errorf("expected '(' after %s", t.op)
		}
		for {
			v, err := p.word("a value in the set")
			if err != nil {
				return labelTerm{}, err
			}
			t.values = append(t.values, v)
			switch p.next().kind {
			case tokComma:
				continue
			case tokRParen:
				return t, nil
			default:
				return labelTerm{}, fmt.Errorf("expected ',' or ')' in the set of %s", t.key)
			}
		}
	default:
		return labelTerm{}, fmt.Errorf("expected an operator after %q", key)
	}
}
