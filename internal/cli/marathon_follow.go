package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// deploymentEvents are the event types a follower listens to (read-only).
var deploymentEvents = []string{"deployment_step_success", "deployment_step_failure", "deployment_success", "deployment_failed"}

// subscribeDeployments opens the event stream before a change is submitted,
// so events of a fast deployment are not missed. A Marathon or proxy that
// cannot stream gives a nil channel: following then relies on polling.
func subscribeDeployments(ctx context.Context, c *marathon.Client) <-chan marathon.Event {
	ch, err := c.Events(ctx, deploymentEvents...)
	if err != nil {
		return nil
	}
	return ch
}

// deploymentEvent is the part of Marathon's deployment events the follower
// reads: deployment_success/failed carry "id", step events the "plan" and
// the "currentStep" that finished or failed.
type deploymentEvent struct {
	ID   string `json:"id"`
	Plan struct {
		ID    string                    `json:"id"`
		Steps []marathon.DeploymentStep `json:"steps"`
	} `json:"plan"`
	CurrentStep *marathon.DeploymentStep `json:"currentStep"`
	Reason      string                   `json:"reason"`
}

// follower follows one deployment to its end and prints its progress.
//
// It has two sources because neither suffices alone: the event stream says
// why a deployment failed but may be unavailable or drop events, and
// /v2/deployments always answers but only shows running deployments. A
// deployment that leaves /v2/deployments without a deployment_failed event
// succeeded.
type follower struct {
	c        *marathon.Client
	id       string
	w        io.Writer
	interval time.Duration

	lastStep int // highest step announced from polling
}

// followDeployment blocks until deployment id succeeds (nil), fails (an
// error with Marathon's reason) or ctx is done. events may be nil.
func followDeployment(ctx context.Context, c *marathon.Client, id string, events <-chan marathon.Event, interval time.Duration, w io.Writer) error {
	f := &follower{c: c, id: id, w: w, interval: interval}
	return f.run(ctx, events)
}

func (f *follower) run(ctx context.Context, events <-chan marathon.Event) error {
	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	for {
		running, err := f.poll(ctx)
		if err != nil {
			return fmt.Errorf("follow deployment %s: %w", f.id, err)
		}
		if !running {
			// A failure event may be on its way in the stream right now:
			// take whatever is ready before declaring success.
			for drained := false; !drained && events != nil; {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						break
					}
					if done, err := f.event(ev); done {
						return err
					}
				default:
					drained = true
				}
			}
			_, err := fmt.Fprintf(f.w, "Deployment %s succeeded\n", f.id)
			return err
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return fmt.Errorf("follow deployment %s: %w", f.id, ctx.Err())
			case <-ticker.C:
				break wait
			case ev, ok := <-events:
				if !ok {
					events = nil // the stream ended: polling goes on alone
					continue
				}
				if done, err := f.event(ev); done {
					return err
				}
			}
		}
	}
}

// poll reports whether the deployment still runs and announces a new step.
func (f *follower) poll(ctx context.Context) (bool, error) {
	deps, err := f.c.Deployments(ctx)
	if err != nil {
		return false, err
	}
	for _, d := range deps {
		if d.ID != f.id {
			continue
		}
		if d.CurrentStep > f.lastStep {
			f.lastStep = d.CurrentStep
			fmt.Fprintf(f.w, "Step %d/%d: %s\n", d.CurrentStep, d.TotalSteps, describeActions(currentActions(d)))
		}
		return true, nil
	}
	return false, nil
}

// event handles one stream event; done means the deployment ended, with
// err nil on success.
func (f *follower) event(ev marathon.Event) (done bool, err error) {
	var de deploymentEvent
	if json.Unmarshal(ev.Data, &de) != nil {
		return false, nil // not ours to judge: polling still decides
	}
	if de.ID != f.id && de.Plan.ID != f.id {
		return false, nil
	}
	switch ev.Type {
	case "deployment_step_success", "deployment_step_failure":
		verb := "finished"
		if ev.Type == "deployment_step_failure" {
			verb = "failed"
		}
		if de.CurrentStep == nil {
			return false, nil
		}
		where := ""
		for i, s := range de.Plan.Steps {
			if reflect.DeepEqual(s.Actions, de.CurrentStep.Actions) {
				where = fmt.Sprintf(" %d/%d", i+1, len(de.Plan.Steps))
				break
			}
		}
		fmt.Fprintf(f.w, "Step%s %s: %s\n", where, verb, describeActions(de.CurrentStep.Actions))
		return false, nil
	case "deployment_success":
		_, err := fmt.Fprintf(f.w, "Deployment %s succeeded\n", f.id)
		return true, err
	case "deployment_failed":
		if de.Reason != "" {
			return true, fmt.Errorf("deployment %s failed: %s", f.id, de.Reason)
		}
		return true, fmt.Errorf("deployment %s failed", f.id)
	}
	return false, nil
}
