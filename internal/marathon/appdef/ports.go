package appdef

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// ErrNoServicePorts is returned (wrapped) by AssignServicePorts when the
// service port range has no free port left.
var ErrNoServicePorts = errors.New("no free service ports")

// IsConfigChange reports whether going from old to new needs a restart of
// the app's tasks: anything but instances, version and versionInfo differs.
// Both apps are compared in normalised form, so a nil and an empty env are
// the same config.
func IsConfigChange(old, new marathon.App) bool {
	return !reflect.DeepEqual(configOf(old), configOf(new))
}

// configOf is a normalised deep copy of app without the fields that do not
// need a restart. A JSON round trip is the deep copy, so that Normalize
// cannot touch the caller's maps and slices.
func configOf(app marathon.App) any {
	app.Instances, app.Version, app.VersionInfo = 0, "", nil
	m, err := appToMap(app)
	if err != nil {
		// Only non-finite numbers fail to encode; compare those apps as they are.
		return app
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Only non-finite numbers fail to encode; compare those apps as they are.
		return app
	}
	var c marathon.App
	if err := json.Unmarshal(b, &c); err != nil {
		return app
	}
	Normalize(&c)
	return c
}

// AssignServicePorts replaces every zero service port of app (portDefinitions
// port when requirePorts is false, portMappings servicePort) with a free port
// from [opts.LocalPortMin, opts.LocalPortMax] not in used, and marks it used.
// Non-zero ports are kept (and marked used). It fails when the range is full,
// leaving app and used unchanged. Ports are taken lowest first. A nil used
// is treated as empty (and then nothing can be recorded in it).
func AssignServicePorts(app *marathon.App, used map[int]bool, opts Options) error {
	var ports []*int
	if usesContainerNetworking(*app) {
		if app.Container != nil {
			for i := range app.Container.PortMappings {
				ports = append(ports, &app.Container.PortMappings[i].ServicePort)
			}
		}
	} else {
		for i := range app.PortDefinitions {
			ports = append(ports, &app.PortDefinitions[i].Port)
		}
	}
	taken := map[int]bool{}
	for p, u := range used {
		if u {
			taken[p] = true
		}
	}
	for _, p := range ports {
		if *p != 0 {
			taken[*p] = true
		}
	}
	next := max(opts.LocalPortMin, 1)
	assigned := make([]int, len(ports))
	for i, p := range ports {
		assigned[i] = *p
		if *p != 0 || app.RequirePorts && !usesContainerNetworking(*app) {
			continue
		}
		for next <= opts.LocalPortMax && taken[next] {
			next++
		}
		if next > opts.LocalPortMax {
			return fmt.Errorf("assign service ports of %s in [%d, %d]: %w", app.ID, opts.LocalPortMin, opts.LocalPortMax, ErrNoServicePorts)
		}
		assigned[i] = next
		taken[next] = true
	}
	for i, p := range ports {
		*p = assigned[i]
		if used != nil && assigned[i] != 0 {
			used[assigned[i]] = true
		}
	}
	return nil
}

// ServicePorts lists app's service ports in port order: the portDefinitions'
// ports with host networking, the portMappings' service ports otherwise.
// The result is non-nil.
func ServicePorts(app marathon.App) []int {
	out := []int{}
	if usesContainerNetworking(app) {
		if app.Container != nil {
			for _, pm := range app.Container.PortMappings {
				out = append(out, pm.ServicePort)
			}
		}
		return out
	}
	for _, pd := range app.PortDefinitions {
		out = append(out, pd.Port)
	}
	return out
}
