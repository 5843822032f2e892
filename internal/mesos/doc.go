// Package mesos is the Mesos master kernel of Basalt: the leader-only event
// loop that owns agents, frameworks, tasks and offers, runs the DRF allocator
// (internal/mesos/allocator) and serves the v1 scheduler API
// (POST /api/v1/scheduler) and the internal agent protocol
// (POST /internal/agent/v1, internal/agentapi). It publishes immutable
// state.Snapshots for the read side (internal/mesos/state) and implements the
// operator actions that read side forwards (TEARDOWN).
//
// One goroutine, the event loop, owns all mutable state; HTTP handlers send it
// closures and wait for their answers, and streams receive events through
// per-subscriber bounded queues that never block the loop.
//
// The package persists through a Registry and campaigns through an Elector,
// both small interfaces it owns; it must not import internal/store or any
// other concrete persistence, must not bind listeners (the caller serves
// Register'ed handlers), and must not exit the process. In-memory Registry and
// Elector implementations live here for tests and single-process use.
package mesos
