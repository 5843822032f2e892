// Package match is Marathon's offer matching and task building as pure
// code: does an offer (the resources left of it) fit one more instance of an
// app — resources, acceptedResourceRoles and role, host ports, constraints
// against the app's current placements — and, if so, the Mesos TaskInfo to
// launch (command or container, environment of reference §2.8, health
// check, kill policy, labels, discovery info, fetch URIs).
//
// It does no I/O and must not import net/http. The caller subtracts
// Result.Resources from the offer before matching the next instance.
package match

import (
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Reject reasons, named as Marathon's /v2/queue processedOffersSummary names them.
const (
	ReasonInsufficientCpus      = "InsufficientCpus"
	ReasonInsufficientMemory    = "InsufficientMemory"
	ReasonInsufficientDisk      = "InsufficientDisk"
	ReasonInsufficientGpus      = "InsufficientGpus"
	ReasonInsufficientPorts     = "InsufficientPorts"
	ReasonUnfulfilledRole       = "UnfulfilledRole"
	ReasonUnfulfilledConstraint = "UnfulfilledConstraint"
	ReasonDeclinedScarce        = "DeclinedScarceResources"
)

// Config holds the framework settings matching depends on.
type Config struct {
	// DefaultAcceptedResourceRoles applies to apps without
	// acceptedResourceRoles (DC/OS: ["*"]).
	DefaultAcceptedResourceRoles []string
	// MesosRole is the framework's role (resources reserved to it may be
	// used by apps whose role is it).
	MesosRole string
	// MesosUser runs tasks of apps without "user" (DC/OS: root); empty means
	// leave CommandInfo.user unset (the framework user).
	MesosUser string
	// EnvVarsPrefix prefixes the PORT*/HOST variables (--env_vars_prefix).
	EnvVarsPrefix string
}

// Placement is an agent an instance of the app already occupies (live
// instances only), for constraints.
type Placement struct {
	AgentID    string
	Hostname   string
	Attributes []mesosv1.Attribute
	Region     string
	Zone       string
}

// Result is the outcome of matching one instance against one offer.
type Result struct {
	// Matched reports a fit; otherwise Reasons lists why not (one entry per
	// failed dimension, reasons above).
	Matched bool
	Reasons []string
	// Resources are the resources the task takes from the offer (cpus, mem,
	// disk, gpus and the chosen ports), carrying the role, reservation and
	// allocation_info of the offered resources they came from.
	Resources []mesosv1.Resource
	// HostPorts has one entry per port definition (host networking) or port
	// mapping (0 for mappings without a host port), in order.
	HostPorts []int
}

// TaskParams are the per-launch facts BuildTask needs.
type TaskParams struct {
	TaskID   string
	AgentID  string
	Hostname string
	Match    Result // a matched Result for this task
	// ServicePorts are the app's service ports, in port order. BuildTask
	// does not use them yet: Marathon injects no service-port variables,
	// and VIPs come from port labels.
	ServicePorts []int
}
