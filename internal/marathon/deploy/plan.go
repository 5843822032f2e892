package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func newPlan(original, target Root, id, version string) (Plan, error) {
	p := Plan{ID: id, Version: version, Original: original, Target: target, Steps: [][]Action{}}

	stops := make(map[string]bool)
	for appID := range original.Apps {
		if _, ok := target.Apps[appID]; !ok {
			stops[appID] = true
		}
	}
	kinds := make(map[string]string) // start, scale and restart by app id
	for appID, t := range target.Apps {
		o, ok := original.Apps[appID]
		switch {
		case !ok:
			kinds[appID] = marathon.ActionStart
		case configChanged(o, t) || restartRequested(o, t):
			kinds[appID] = marathon.ActionRestart
		case o.Instances != t.Instances:
			kinds[appID] = marathon.ActionScale
		}
	}

	if len(stops) > 0 {
		layers, err := layer(original, stops)
		if err != nil {
			return Plan{}, fmt.Errorf("order stops: %w", err)
		}
		// Dependants sit in the deeper layers; they stop first.
		for _, ids := range slices.Backward(layers) {
			p.Steps = appendStep(p.Steps, ids, func(string) string { return marathon.ActionStop })
		}
	}
	if len(kinds) > 0 {
		set := make(map[string]bool, len(kinds))
		for appID := range kinds {
			set[appID] = true
		}
		layers, err := layer(target, set)
		if err != nil {
			return Plan{}, fmt.Errorf("order deployment: %w", err)
		}
		for _, ids := range layers {
			p.Steps = appendStep(p.Steps, ids, func(appID string) string { return kinds[appID] })
		}
	}
	return p, nil
}

// appendStep appends a step acting on ids (sorted) unless ids is empty.
func appendStep(steps [][]Action, ids []string, kind func(string) string) [][]Action {
	if len(ids) == 0 {
		return steps
	}
	slices.Sort(ids)
	step := make([]Action, 0, len(ids))
	for _, appID := range ids {
		step = append(step, Action{Kind: kind(appID), AppID: appID})
	}
	return append(steps, step)
}

// layer sorts the apps of set into layers by r's dependencies: an app's
// layer is the largest number of set members on any dependency chain below
// it, so its dependencies in set all sit in earlier layers. Chains may pass
// through apps outside set. A cycle reachable from set is an error.
func layer(r Root, set map[string]bool) ([][]string, error) {
	idx := newDepIndex(r)
	const (
		unseen = iota
		visiting
		finished
	)
	state := make(map[string]int)
	depth := make(map[string]int)
	var stack []string // the current DFS path, to name a cycle
	var visit func(appID string) error
	visit = func(appID string) error {
		switch state[appID] {
		case finished:
			return nil
		case visiting:
			start := slices.Index(stack, appID)
			cycle := append(slices.Clone(stack[start:]), appID)
			return fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(cycle, " -> "))
		}
		state[appID] = visiting
		stack = append(stack, appID)
		d := 0
		for _, dep := range idx.dependencies(appID) {
			if err := visit(dep); err != nil {
				return err
			}
			below := depth[dep]
			if set[dep] {
				below++
			}
			d = max(d, below)
		}
		stack = stack[:len(stack)-1]
		state[appID] = finished
		depth[appID] = d
		return nil
	}
	// Visit in sorted order so the cycle reported is deterministic.
	for _, appID := range slices.Sorted(maps.Keys(set)) {
		if err := visit(appID); err != nil {
			return nil, err
		}
	}
	var layers [][]string
	for appID := range set {
		d := depth[appID]
		for len(layers) <= d {
			layers = append(layers, nil)
		}
		layers[d] = append(layers[d], appID)
	}
	return layers, nil
}

// configChanged reports whether a and b differ in anything but instances,
// version and versionInfo: the definition of a restart (reference §2.6).
// It compares JSON encodings so every field counts, present and future.
func configChanged(a, b marathon.App) bool {
	ja, errA := configJSON(a)
	jb, errB := configJSON(b)
	if errA != nil || errB != nil {
		// An unencodable app (a corrupt raw field) cannot be proven
		// unchanged; replacing its instances is the safe side.
		return true
	}
	return !bytes.Equal(ja, jb)
}

func configJSON(a marathon.App) ([]byte, error) {
	a.Instances = 0
	a.Version = ""
	a.VersionInfo = nil
	return json.Marshal(a)
}

// restartRequested reports a new versionInfo.lastConfigChangeAt without a
// config change: how POST /v2/apps/{id}/restart is expressed.
func restartRequested(o, t marathon.App) bool {
	var before, after string
	if o.VersionInfo != nil {
		before = o.VersionInfo.LastConfigChangeAt
	}
	if t.VersionInfo != nil {
		after = t.VersionInfo.LastConfigChangeAt
	}
	return after != "" && after != before
}
