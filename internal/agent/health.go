package agent

import "context"

// startHealth starts the task's health checks, if it has any.
func (a *Agent) startHealth(ctx context.Context, t *task) {}
