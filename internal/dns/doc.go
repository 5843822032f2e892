// Package dns is Basalt's DNS server: the Mesos-DNS role (the `.mesos`
// zone and its HTTP API on the masters) and the dcos-dns role (the
// `thisdcos.directory` zone, `ready.spartan`, `zk-N.zk`, and forwarding of
// every other name to upstream resolvers, per zone where configured).
//
// A Server answers from an immutable *records.Table that its owner swaps in
// with Swap; Swap compiles the table into ready-made resource records so the
// query path only assembles a reply. Names outside the authoritative zones
// are forwarded (two upstreams in parallel, UDP then TCP when truncated) and
// the answers cached with their TTLs capped.
//
// Choices where the references leave room, and why:
//   - A name that exists with no record of the asked type answers NOERROR
//     with the SOA in the authority section (NODATA), also for types the
//     zone never holds (MX, TXT, PTR...). The reference table says "other
//     types → NXDOMAIN", which is what early Mesos-DNS did; later Mesos-DNS
//     answers NOERROR when the name has any record, and NXDOMAIN for an
//     existing name makes caching resolvers drop every type of that name.
//     Names that do not exist answer NXDOMAIN with the SOA. Empty
//     non-terminals ("marathon.mesos." when "web.marathon.mesos." exists)
//     are NODATA, so QNAME-minimising resolvers do not stop early.
//   - With recursion off, or with no upstream for a name, the answer is
//     REFUSED, as Mesos-DNS answers when external resolution is off.
//   - `ready.spartan.` answers A 127.0.0.1 (the dcos-dns health record) and
//     `zk-1.zk.`..`zk-5.zk.` the master addresses, wrapping round when there
//     are fewer than five masters.
//
// It must not build records (that is package records), read cluster state,
// or decide where it listens: callers hand it sockets (ListenPair) and
// tables (Swap). It keeps no package-level mutable state.
package dns
