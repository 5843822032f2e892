// Package gomarathon judges Basalt's Marathon /v2 API with a real,
// independent client: github.com/gambol99/go-marathon drives an in-process
// cluster (internal/clustertest) through apps, tasks, groups, deployments,
// the launch queue, info/leader/ping and the SSE event stream, and each
// answer is checked as go-marathon decodes it.
//
// It holds tests only; it must not be imported, and Basalt's own client
// (pkg/marathon) must not be used here, so that the two cannot hide each
// other's wire mistakes.
package gomarathon
