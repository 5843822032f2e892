// Package store is Basalt's persistence layer: the ZooKeeper/Exhibitor role of DC/OS.
//
// Every master runs an embedded etcd member (1, 3 or 5 members from a static list form the
// cluster), or the masters connect to an external etcd through endpoints. Everything Basalt
// persists goes through this package: keys relative to a prefix, group-committed
// transactions (Apply), watches that report when they must resync, JSON-typed collections,
// leader elections for single-writer components (whose leaders can keep etcd's raft
// leadership on another member, KeepRaftLeaderAway, so that a leader's crash costs only its
// lease TTL), and the cluster ID.
//
// The package must not know about Basalt's domain (apps, agents, frameworks): it stores
// opaque bytes and JSON values under keys that its callers choose. It must not exit the
// process, and it must not let etcd write to stdout/stderr on its own: etcd's logs are
// routed to the injected *slog.Logger.
//
// Key layout under Prefix (default "/basalt"):
//
//	<prefix>/<key>                  caller keys (Get, List, Apply, Watch, Collection)
//	<prefix>/elections/<name>/...   leader elections (one key per candidate, lease-bound)
//	<prefix>/cluster/id             the cluster ID (EnsureClusterID)
package store
