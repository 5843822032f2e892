// Package mesosgo judges Basalt's Mesos v1 scheduler API with a real,
// independent client: mesos-go (github.com/mesos/mesos-go, api/v1) with its
// JSON codec and its httpsched caller drives an in-process cluster
// (internal/clustertest) through SUBSCRIBE, offers, ACCEPT/LAUNCH, status
// updates and acknowledgements, RECONCILE, KILL, DECLINE, REVIVE and
// TEARDOWN. It holds tests only; it must not be imported, and Basalt's own
// client (pkg/scheduler) must not be used here, so that the two cannot hide
// each other's wire mistakes.
package mesosgo
