package records

import "strings"

// Label turns s into one DNS label the way Mesos-DNS's RFC 1123 mode does
// (reference §4.1): ASCII letters are lower-cased, '-', '.' and '_' become
// '-', every other character (including all non-ASCII) is dropped, leading
// '-' are trimmed, the result is cut to 63 characters and trailing '-' are
// trimmed. With rfc952 the limit is 24 characters and leading digits are
// trimmed too. The result may be empty; callers then make no record.
//
// Label is idempotent and its result is always a valid DNS label (or "").
func Label(s string, rfc952 bool) string {
	maxLen := 63
	if rfc952 {
		maxLen = 24
	}
	if validLabel(s, maxLen, rfc952) {
		return s // the common case: no allocation
	}
	b := make([]byte, 0, min(len(s), maxLen))
	for i := 0; i < len(s) && len(b) < maxLen; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case '0' <= c && c <= '9':
			if rfc952 && len(b) == 0 {
				continue // no leading digit
			}
		case c == '-' || c == '.' || c == '_':
			if len(b) == 0 {
				continue // no leading '-'
			}
			c = '-'
		default:
			continue
		}
		b = append(b, c)
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// validLabel reports whether s is already what Label would return.
func validLabel(s string, maxLen int, rfc952 bool) bool {
	if s == "" || len(s) > maxLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	if rfc952 && '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// DomainFrag sanitises a dotted name part by part with Label and joins the
// non-empty parts with dots: how Mesos-DNS keeps a framework name's dots
// ("My.Frame work" -> "my.framework"). The result may be empty.
func DomainFrag(s string, rfc952 bool) string {
	if !strings.Contains(s, ".") {
		return Label(s, rfc952)
	}
	parts := strings.Split(s, ".")
	out := parts[:0]
	for _, p := range parts {
		if l := Label(p, rfc952); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, ".")
}

// VIPName sanitises a named VIP's name as dcos-net does (reference §4.4):
// per dot-separated label, lower-cased, '_' to '-', and every other
// character such as '/' dropped: "/my-service" -> "my-service",
// "/grp/app" -> "grpapp". The result may be empty (no VIP then).
func VIPName(s string) string { return DomainFrag(s, false) }

// ValidName reports whether name is a fully qualified, lower-case DNS name
// as the Table holds them: ending in ".", at most 253 characters without
// that dot, labels of 1 to 63 characters made of a-z, 0-9 and '-', where a
// label may start with '_' (SRV service and protocol labels).
func ValidName(name string) bool { return validName(name) }

func validName[T string | []byte](name T) bool {
	n := len(name)
	if n < 2 || n > 254 || name[n-1] != '.' {
		return false
	}
	start := 0
	for i := 0; i < n; i++ {
		c := name[i]
		if c == '.' {
			l := i - start
			if l == 0 || l > 63 {
				return false
			}
			start = i + 1
			continue
		}
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case c == '_' && i == start:
		default:
			return false
		}
	}
	return true
}
