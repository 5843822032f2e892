// Package records builds the DNS records of a Basalt cluster from a view of
// the leading master's state: the Mesos-DNS `.mesos` zone (task, framework,
// agent, master and leader names; A, AAAA and SRV) and the dcos-dns
// `thisdcos.directory` zone (agentip, containerip, autoip, l4lb named VIPs).
//
// It is pure: Build takes a State and a Config and returns an immutable
// Table. It does no I/O, knows nothing of the DNS wire format or HTTP, and
// never modifies its input. The server (internal/dns) answers queries from
// a Table and swaps a new one in atomically when the state changes.
package records

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Config selects how names are built. DefaultConfig gives DC/OS's values.
type Config struct {
	// Domain is the Mesos-DNS domain, without dots at either end ("mesos").
	Domain string
	// IPSources orders where a task's address comes from: "host" (agent IP),
	// "netinfo" (container_status.network_infos), "mesos"
	// (MesosContainerizer.NetworkSettings.IPAddress status label), "docker"
	// (Docker.NetworkSettings.IPAddress status label). The first source that
	// yields an address wins. DC/OS default: ["host", "netinfo"].
	IPSources []string
	// EnforceRFC952 limits labels to 24 characters with no leading digit.
	EnforceRFC952 bool
	// VIPRange is where named VIPs get their addresses (11.0.0.0/8).
	VIPRange netip.Prefix
}

// DefaultConfig returns DC/OS's settings.
func DefaultConfig() Config {
	return Config{
		Domain:    "mesos",
		IPSources: []string{"host", "netinfo"},
		VIPRange:  netip.MustParsePrefix("11.0.0.0/8"),
	}
}

// State is the cluster as DNS sees it: what the leading master's v1
// operator API reports (GET_STATE, then SUBSCRIBE events), plus the master
// addresses that only configuration knows. Pointers are shared with the
// caller and must not be modified.
type State struct {
	// Leader is the leading master (nil when unknown).
	Leader *mesosv1.MasterInfo
	// Masters are all masters' addresses, in configuration order
	// (master0.<domain>, master1.<domain>, ...).
	Masters []netip.Addr
	// Agents are the registered agents. An agent's IP comes from its PID
	// ("slave(1)@10.0.0.1:5051"), else from AgentInfo.Hostname when that is
	// an IP literal.
	Agents     []*mesosv1.OperatorAgent
	Frameworks []*mesosv1.OperatorFramework
	// Tasks are the tasks the master knows (any state); only TASK_RUNNING
	// tasks get records, as in Mesos-DNS.
	Tasks []*mesosv1.Task
}

// SRV is one SRV record's data.
type SRV struct {
	Target   string // fully qualified, lower case, ending in "."
	Port     uint16
	Priority uint16
	Weight   uint16
}

// RRSet is every record of one name.
type RRSet struct {
	A    []netip.Addr // IPv4 addresses
	AAAA []netip.Addr // IPv6 addresses
	SRV  []SRV
}

// Table is an immutable set of records. Nothing in it may be modified after
// Build returns it.
type Table struct {
	// Domain is Config.Domain ("mesos").
	Domain string
	// Names maps fully qualified lower-case names ending in "." (e.g.
	// "web.prod.marathon.mesos.", "_web._tcp.marathon.mesos.",
	// "web-prod.marathon.agentip.dcos.thisdcos.directory.") to their records.
	Names map[string]*RRSet
	// Frameworks lists, for the Mesos-DNS HTTP API's /v1/enumerate and
	// /v1/axfr, every framework with its running tasks and the `.mesos`
	// records each task produced, sorted by framework then task name.
	Frameworks []EnumFramework
	// VIPs are the named and IP VIPs declared by running tasks, with their
	// backends, sorted by (IP, port, protocol).
	VIPs []VIP
}

// EnumFramework is one framework in /v1/enumerate.
type EnumFramework struct {
	Name  string
	Tasks []EnumTask
}

// EnumTask is one task in /v1/enumerate.
type EnumTask struct {
	Name    string
	ID      string
	Records []EnumRecord
}

// EnumRecord is one record in /v1/enumerate: Name is the owner name
// ("web.marathon.mesos."), Host the data ("10.0.0.1" or an SRV's
// "target:port"), RType "A", "AAAA" or "SRV".
type EnumRecord struct {
	Name  string
	Host  string
	RType string
}

// VIP is one virtual address and port with its backends (reference §4.4).
type VIP struct {
	// Name is the sanitised VIP name ("my-service") for a named VIP, empty
	// for an IP VIP ("1.2.3.4:80").
	Name string
	// Framework is the sanitised name of the framework whose tasks declared it.
	Framework string
	// FQDN is "<name>.<framework>.l4lb.thisdcos.directory." for named VIPs.
	FQDN     string
	IP       netip.Addr
	Port     uint16
	Protocol string // "tcp" or "udp"
	// Backends are the running tasks behind it, sorted by (IP, port).
	// Tasks whose last status says healthy=false are left out.
	Backends []Backend
}

// Backend is one task behind a VIP: the task's IP and container port when
// it has its own address, else the agent IP and host port.
type Backend struct {
	IP     netip.Addr
	Port   uint16
	TaskID string
}

// CheckIPSources reports the unknown names in an IPSources list.
func CheckIPSources(sources []string) error {
	var errs []error
	for _, s := range sources {
		switch s {
		case "host", "netinfo", "mesos", "docker":
		default:
			errs = append(errs, fmt.Errorf("unknown source %q (want host, netinfo, mesos or docker)", s))
		}
	}
	return errors.Join(errs...)
}
