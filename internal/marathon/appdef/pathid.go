package appdef

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ErrInvalidID is returned (wrapped) by CanonicalID for ids that do not
// resolve to a well-formed absolute path.
var ErrInvalidID = errors.New("invalid path id")

// idSegment is the syntax of one path segment (reference §2.3): DNS-like
// labels of lower-case letters, digits and inner dashes, optionally joined by dots.
var idSegment = regexp.MustCompile(`^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`)

// idSyntaxMessage is the validation message for a malformed id; it names the
// segment syntax the way Marathon's own message does.
const idSyntaxMessage = `must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$'`

// CanonicalID resolves id (absolute, or relative to base, with "." and
// ".." segments) to an absolute path "/a/b" and checks each segment's syntax.
// Empty segments ("a//b", a trailing "/") are dropped; the root is "/".
func CanonicalID(id, base string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("resolve id: empty: %w", ErrInvalidID)
	}
	var segs []string
	if !strings.HasPrefix(id, "/") {
		b, err := resolveSegments(base, nil)
		if err != nil {
			return "", fmt.Errorf("resolve id %q against %q: %w", id, base, err)
		}
		segs = b
	}
	segs, err := resolveSegments(id, segs)
	if err != nil {
		return "", fmt.Errorf("resolve id %q: %w", id, err)
	}
	return "/" + strings.Join(segs, "/"), nil
}

// resolveSegments appends the segments of p to segs, applying "." and "..".
func resolveSegments(p string, segs []string) ([]string, error) {
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) == 0 {
				return nil, fmt.Errorf("%q goes above the root: %w", p, ErrInvalidID)
			}
			segs = segs[:len(segs)-1]
		default:
			if !idSegment.MatchString(s) {
				return nil, fmt.Errorf("segment %q: %w", s, ErrInvalidID)
			}
			segs = append(segs, s)
		}
	}
	return segs, nil
}

// pathSegments splits an absolute id into its non-empty segments.
func pathSegments(id string) []string {
	var segs []string
	for s := range strings.SplitSeq(id, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// Parent is the parent group path of an absolute id ("/" for top-level ids).
func Parent(id string) string {
	segs := pathSegments(id)
	if len(segs) <= 1 {
		return "/"
	}
	return "/" + strings.Join(segs[:len(segs)-1], "/")
}

// SafePath is the task-id form of an app id: "/group/app" -> "group_app".
func SafePath(id string) string {
	return strings.Join(pathSegments(id), "_")
}

// MesosTaskName is the Mesos task name of an app id: the reversed path
// joined by dots, "/group/app" -> "app.group" (what Mesos-DNS uses).
func MesosTaskName(id string) string {
	segs := pathSegments(id)
	slices.Reverse(segs)
	return strings.Join(segs, ".")
}

// resolveLoose resolves id against base like CanonicalID, but keeps a
// malformed id (joined to base when relative) instead of failing, so that
// validation can report it at "/id" with the rest of the problems.
func resolveLoose(id, base string) string {
	if id == "" {
		return ""
	}
	if c, err := CanonicalID(id, base); err == nil {
		return c
	}
	if strings.HasPrefix(id, "/") {
		return id
	}
	return strings.TrimSuffix(base, "/") + "/" + id
}
