// Package appdef turns submitted Marathon JSON into normalised app and group
// definitions: decoding with Marathon's 400 "Invalid JSON" error paths,
// Marathon 1.10 defaults, folding of deprecated fields, partial updates,
// validation that reports every problem at once (HTTP 422 details), service
// port assignment, and the path-id rules (relative ids, safe paths, Mesos
// task names).
//
// It is pure: no I/O, no clock (versions come from the caller), no net/http.
package appdef

import "github.com/basalt-dcos/basalt/pkg/marathon"

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
