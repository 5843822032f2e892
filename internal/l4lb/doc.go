// Package l4lb is Basalt's layer-4 load balancer for VIPs (the DC/OS
// Minuteman / dcos-l4lb role, reference §4.4): every agent makes each VIP
// (a named VIP's 11.x.y.z address, or an IP VIP's literal address) answer on
// its port and spreads new connections over the VIP's current backends.
//
// It consumes []records.VIP computed elsewhere (internal/dns/records) and
// never reads cluster state itself. Today's data path is a userspace proxy:
// the VIP address is added to an interface (lo by default) with host scope
// and a listener per VIP:port splices connections to backends. The kernel
// path (IPVS) is a later backend behind the same small interface; Status
// reports whether the kernel offers it.
//
// It must not: decide which tasks are backends (records does), resolve
// names, touch addresses it did not add, or stop the process when it lacks
// the privilege to add addresses (it reports that in Status and keeps
// running without VIPs).
package l4lb
