// Package appdef turns submitted Marathon JSON into normalised app and group
// definitions: decoding with Marathon's 400 "Invalid JSON" error paths,
// Marathon 1.10 defaults, folding of deprecated fields, partial updates,
// validation that reports every problem at once (HTTP 422 details), service
// port assignment, and the path-id rules (relative ids, safe paths, Mesos
// task names).
//
// It is pure: no I/O, no clock (versions come from the caller), no net/http.
package appdef

import (
	"errors"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// errUnimplemented marks a stub the owner of this package replaces.
var errUnimplemented = errors.New("appdef: unimplemented")

// DecodeError is a body that is not valid JSON for the target type
// (HTTP 400, message "Invalid JSON").
type DecodeError struct {
	Details []marathon.ErrorDetail
}

func (e *DecodeError) Error() string { return "Invalid JSON" }

// ValidationError lists every problem of a definition (HTTP 422, message
// "Object is not valid").
type ValidationError struct {
	Details []marathon.ErrorDetail
}

func (e *ValidationError) Error() string { return "Object is not valid" }

// Options are the server settings validation and defaults depend on.
type Options struct {
	// DefaultAcceptedResourceRoles applies when an app has none (DC/OS: ["*"]).
	// It is not written into the app (Marathon leaves the field absent).
	DefaultAcceptedResourceRoles []string
	// MesosRole is the framework role; apps may use it or "*".
	MesosRole string
	// DefaultNetworkName names the container network when networks[].name is empty.
	DefaultNetworkName string
	// LocalPortMin, LocalPortMax bound auto-assigned service ports (10000-20000).
	LocalPortMin, LocalPortMax int
}

// DefaultOptions are DC/OS's settings.
func DefaultOptions() Options {
	return Options{DefaultAcceptedResourceRoles: []string{"*"}, MesosRole: "*", DefaultNetworkName: "dcos", LocalPortMin: 10000, LocalPortMax: 20000}
}

// CanonicalID resolves id (absolute, or relative to base, with "." and
// ".." segments) to an absolute path "/a/b" and checks each segment's syntax.
func CanonicalID(id, base string) (string, error) { return "", errUnimplemented }

// Parent is the parent group path of an absolute id ("/" for top-level ids).
func Parent(id string) string { return "/" }

// SafePath is the task-id form of an app id: "/group/app" -> "group_app".
func SafePath(id string) string { return "" }

// MesosTaskName is the Mesos task name of an app id: the reversed path
// joined by dots, "/group/app" -> "app.group" (what Mesos-DNS uses).
func MesosTaskName(id string) string { return "" }

// DecodeApp decodes one submitted app, resolves its id against base,
// applies defaults and normalises it. It does not validate.
func DecodeApp(data []byte, base string) (marathon.App, error) {
	return marathon.App{}, errUnimplemented
}

// DecodeApps decodes a JSON array of apps (PUT/PATCH /v2/apps) into raw
// objects, each to be decoded or merged on its own; ids gets each object's
// canonical "id" (required).
func DecodeApps(data []byte) (raws [][]byte, ids []string, err error) {
	return nil, nil, errUnimplemented
}

// MergeApp applies a partial update to existing: top-level fields present in
// patch replace existing's, absent ones are kept (Marathon's partialUpdate and
// PATCH semantics); the result is normalised.
func MergeApp(existing marathon.App, patch []byte) (marathon.App, error) {
	return marathon.App{}, errUnimplemented
}

// DecodeGroup decodes a submitted group (with nested apps and groups),
// resolving ids against base and normalising every app.
func DecodeGroup(data []byte, base string) (marathon.Group, error) {
	return marathon.Group{}, errUnimplemented
}

// Normalize fills Marathon 1.10 defaults into app and folds deprecated
// fields (uris -> fetch, ports -> portDefinitions, docker.network ->
// networks, docker.portMappings -> container.portMappings). It is idempotent
// and makes every slice and map that Marathon always emits non-nil.
func Normalize(app *marathon.App) {}

// ValidateApp checks one normalised app and returns a *ValidationError with
// every problem, or nil.
func ValidateApp(app marathon.App, opts Options) error { return errUnimplemented }

// ValidateGroup checks a decoded group tree (ids under the group, no app
// and group with the same id, dependencies well-formed) and its apps.
func ValidateGroup(g marathon.Group, opts Options) error { return errUnimplemented }

// IsConfigChange reports whether going from old to new needs a restart of
// the app's tasks: anything but instances, version and versionInfo differs.
func IsConfigChange(old, new marathon.App) bool { return false }

// AssignServicePorts replaces every zero service port of app (portDefinitions
// port when requirePorts is false, portMappings servicePort) with a free port
// from [opts.LocalPortMin, opts.LocalPortMax] not in used, and marks it used.
// Non-zero ports are kept (and marked used). It fails when the range is full.
func AssignServicePorts(app *marathon.App, used map[int]bool, opts Options) error {
	return errUnimplemented
}

// ServicePorts lists app's service ports in port order.
func ServicePorts(app marathon.App) []int { return nil }
