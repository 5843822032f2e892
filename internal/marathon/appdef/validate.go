package appdef

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// Validation messages that tests and clients may look for.
const (
	msgNoCmdArgsContainer = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
	msgCmdAndArgs         = "AppDefinition must either contain a 'cmd' or a 'args', but not both."
	msgPortIndex          = "Health check port indices must address an element of the ports array or container port mappings."
	msgNotEmpty           = "must not be empty"
	msgGreaterThanOne     = "is greater than 1"
	msgLessThanZero       = "is less than 0"
)

// executorPattern is the executor syntax: empty, "//cmd" or a path.
var executorPattern = regexp.MustCompile(`^(//cmd|/?[^/\s]+(/[^/\s]+)*)?$`)

// problems collects validation messages by path.
type problems map[string][]string

func (p problems) add(path, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	if !slices.Contains(p[path], msg) {
		p[path] = append(p[path], msg)
	}
}

// merge adds q's problems under prefix ("/apps(0)" + "/cpus").
func (p problems) merge(prefix string, q problems) {
	for path, msgs := range q {
		full := prefix + path
		if path == "/" {
			full = prefix
		}
		if full == "" {
			full = "/"
		}
		for _, m := range msgs {
			p.add(full, "%s", m)
		}
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Details: sortedDetails(p)}
}

// nonNegative checks a number is finite and >= 0.
func (p problems) nonNegative(path string, v float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		p.add(path, "must be a finite number")
	case v < 0:
		p.add(path, "got %s, expected 0 or more", formatNumber(v))
	}
}

func (p problems) portNumber(path string, v int) {
	if v < 0 || v > 65535 {
		p.add(path, "got %d, expected a port between 0 and 65535", v)
	}
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// ValidateApp checks one normalised app and returns a *ValidationError with
// every problem, or nil. Paths follow Marathon's notation: "/cpus",
// "/upgradeStrategy/minimumHealthCapacity", "/constraints(0)",
// "/container/volumes(1)/mode"; "/" for problems of the whole app.
func ValidateApp(app marathon.App, opts Options) error {
	p := problems{}
	validateApp(p, app, opts)
	return p.err()
}

func validateApp(p problems, app marathon.App, opts Options) {
	validateID(p, "/id", app.ID, false)
	validateCommand(p, app)
	validateResources(p, app)
	validateStrategies(p, app)
	validateConstraints(p, "/constraints", app.Constraints)
	validateNetworks(p, app, opts)
	validatePorts(p, app)
	validateHealthChecks(p, app)
	validateReadiness(p, app)
	validateCheck(p, app)
	validateRoles(p, app, opts)
	validateEnvAndSecrets(p, app)
	validateContainer(p, app)
	validateResident(p, app)
	for i, d := range app.Dependencies {
		path := idx("/dependencies", i)
		if c, err := CanonicalID(d, "/"); err != nil || c != d || c == "/" {
			p.add(path, idSyntaxMessage)
		} else if d == app.ID {
			p.add(path, "an app cannot depend on itself")
		}
	}
	for i, f := range app.Fetch {
		if strings.TrimSpace(f.URI) == "" {
			p.add(idx("/fetch", i)+"/uri", msgNotEmpty)
		}
	}
	for k := range app.Labels {
		if k == "" {
			p.add("/labels", "keys must not be empty")
		}
	}
	if app.KillSelection != "YOUNGEST_FIRST" && app.KillSelection != "OLDEST_FIRST" {
		p.add("/killSelection", "must be one of YOUNGEST_FIRST, OLDEST_FIRST")
	}
	if !executorPattern.MatchString(app.Executor) {
		p.add("/executor", "must be empty, //cmd or a path")
	}
	if app.User != nil && strings.TrimSpace(*app.User) == "" {
		p.add("/user", msgNotEmpty)
	}
}

// validateID checks that id is a canonical absolute path other than the
// root (or the root itself when root is allowed, for groups).
func validateID(p problems, path, id string, root bool) {
	switch {
	case id == "":
		p.add(path, msgNotEmpty)
	case id == "/" && !root:
		p.add(path, "must not be the root group")
	default:
		if c, err := CanonicalID(id, "/"); err != nil || c != id {
			p.add(path, idSyntaxMessage)
		}
	}
}

func validateCommand(p problems, app marathon.App) {
	hasCmd, hasArgs := app.Cmd != nil, len(app.Args) > 0
	switch {
	case hasCmd && hasArgs:
		p.add("/", msgCmdAndArgs)
	case !hasCmd && !hasArgs && app.Container == nil:
		p.add("/", msgNoCmdArgsContainer)
	}
	if hasCmd && strings.TrimSpace(*app.Cmd) == "" {
		p.add("/cmd", msgNotEmpty)
	}
}

func validateResources(p problems, app marathon.App) {
	p.nonNegative("/cpus", app.Cpus)
	p.nonNegative("/mem", app.Mem)
	p.nonNegative("/disk", app.Disk)
	if app.Gpus < 0 {
		p.add("/gpus", "got %d, expected 0 or more", app.Gpus)
	}
	if app.Gpus > 0 && app.Container != nil && app.Container.Type == containerDocker {
		p.add("/gpus", "GPU resources only work with the Mesos containerizer")
	}
	if app.Instances < 0 {
		p.add("/instances", "got %d, expected 0 or more", app.Instances)
	}
	p.nonNegative("/backoffSeconds", app.BackoffSeconds)
	if math.IsNaN(app.BackoffFactor) || app.BackoffFactor < 1 || math.IsInf(app.BackoffFactor, 0) {
		p.add("/backoffFactor", "got %s, expected 1 or more", formatNumber(app.BackoffFactor))
	}
	p.nonNegative("/maxLaunchDelaySeconds", app.MaxLaunchDelaySeconds)
	if app.TaskKillGracePeriodSeconds != nil {
		p.nonNegative("/taskKillGracePeriodSeconds", *app.TaskKillGracePeriodSeconds)
	}
	if r := app.ExecutorResources; r != nil {
		p.nonNegative("/executorResources/cpus", r.Cpus)
		p.nonNegative("/executorResources/mem", r.Mem)
		p.nonNegative("/executorResources/disk", r.Disk)
	}
	if r := app.ResourceLimits; r != nil {
		validateLimit(p, "/resourceLimits/cpus", r.Cpus, app.Cpus)
		validateLimit(p, "/resourceLimits/mem", r.Mem, app.Mem)
	}
}

// validateLimit checks a resource limit: absent, "unlimited", or a number
// not below the requested amount.
func validateLimit(p problems, path string, raw []byte, request float64) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == `"unlimited"` {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		p.add(path, `must be a number or "unlimited"`)
	case v < request:
		p.add(path, "must be at least the requested amount (%s)", formatNumber(request))
	}
}

func validateStrategies(p problems, app marathon.App) {
	if u := app.UpgradeStrategy; u != nil {
		unitInterval(p, "/upgradeStrategy/minimumHealthCapacity", u.MinimumHealthCapacity)
		unitInterval(p, "/upgradeStrategy/maximumOverCapacity", u.MaximumOverCapacity)
	}
	if u := app.UnreachableStrategy; u != nil && !u.Disabled {
		p.nonNegative("/unreachableStrategy/inactiveAfterSeconds", u.InactiveAfterSeconds)
		p.nonNegative("/unreachableStrategy/expungeAfterSeconds", u.ExpungeAfterSeconds)
		if u.ExpungeAfterSeconds < u.InactiveAfterSeconds {
			p.add("/unreachableStrategy/expungeAfterSeconds", "must be greater than or equal to inactiveAfterSeconds")
		}
	}
}

func unitInterval(p problems, path string, v float64) {
	switch {
	case math.IsNaN(v):
		p.add(path, "must be a finite number")
	case v > 1:
		p.add(path, msgGreaterThanOne)
	case v < 0:
		p.add(path, msgLessThanZero)
	}
}

// constraintOperators are the operators of reference §2.4, in Marathon's
// order (read-only).
var constraintOperators = []string{"CLUSTER", "GROUP_BY", "IS", "LIKE", "MAX_PER", "UNIQUE", "UNLIKE"}

func validateConstraints(p problems, base string, cs [][]string) {
	for i, c := range cs {
		path := idx(base, i)
		if len(c) < 2 || len(c) > 3 {
			p.add(path, "Each constraint must have either 2 or 3 fields")
			continue
		}
		if strings.TrimSpace(c[0]) == "" {
			p.add(path, "Constraint field must not be empty")
		}
		op := c[1]
		if !slices.Contains(constraintOperators, op) {
			p.add(path, "Constraint operator must be one of the following: [%s]", strings.Join(constraintOperators, ", "))
			continue
		}
		value, hasValue := "", len(c) == 3
		if hasValue {
			value = c[2]
		}
		switch op {
		case "UNIQUE":
			if hasValue {
				p.add(path, "UNIQUE does not take a value")
			}
		case "CLUSTER":
			if hasValue && value == "" {
				p.add(path, "CLUSTER value must not be empty when given")
			}
		case "GROUP_BY":
			if hasValue {
				if n, err := strconv.Atoi(value); err != nil || n < 0 {
					p.add(path, "GROUP_BY may either have no value or a non-negative integer value")
				}
			}
		case "LIKE", "UNLIKE":
			if !hasValue {
				p.add(path, "A regular expression value must be provided")
			} else if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				p.add(path, "'%s' is not a valid regular expression", value)
			}
		case "MAX_PER":
			if n, err := strconv.Atoi(value); !hasValue || err != nil || n < 0 {
				p.add(path, "MAX_PER must have a non-negative integer value")
			}
		case "IS":
			if !hasValue || value == "" {
				p.add(path, "IS requires a value")
			}
		}
	}
}

func validateNetworks(p problems, app marathon.App, opts Options) {
	var host, bridge, container int
	names := map[string]bool{}
	for i, n := range app.Networks {
		path := idx("/networks", i)
		switch n.Mode {
		case modeHost:
			host++
			if n.Name != "" {
				p.add(path+"/name", "must be empty for host networking")
			}
		case modeBridge:
			bridge++
			if n.Name != "" {
				p.add(path+"/name", "must be empty for bridge networking")
			}
		case modeContainer:
			container++
			if n.Name == "" && opts.DefaultNetworkName == "" {
				p.add(path+"/name", "must be given: no default network name is configured")
			}
			if names[n.Name] {
				p.add(path+"/name", "container network names must be unique")
			}
			names[n.Name] = true
		default:
			p.add(path+"/mode", "must be one of host, container, container/bridge")
		}
	}
	kinds := 0
	for _, c := range []int{host, bridge, container} {
		if c > 0 {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		p.add("/networks", "must not mix host, container and container/bridge networking")
	case host > 1:
		p.add("/networks", "must contain at most one host network")
	case bridge > 1:
		p.add("/networks", "must contain at most one container/bridge network")
	}
	if container > 1 && app.Container != nil && app.Container.Type == containerDocker {
		p.add("/networks", "the Docker containerizer supports only one container network")
	}
}

func validProtocol(s string) bool {
	switch s {
	case "tcp", "udp", "udp,tcp", "tcp,udp":
		return true
	}
	return false
}

func validatePorts(p problems, app marathon.App) {
	containerNet := usesContainerNetworking(app)
	if containerNet && len(app.PortDefinitions) > 0 {
		p.add("/portDefinitions", "must be empty with container networking; use container.portMappings")
	}
	names, ports := map[string]bool{}, map[int]bool{}
	for i, pd := range app.PortDefinitions {
		path := idx("/portDefinitions", i)
		p.portNumber(path+"/port", pd.Port)
		if !validProtocol(pd.Protocol) {
			p.add(path+"/protocol", "must be one of tcp, udp, udp,tcp")
		}
		if pd.Name != "" {
			if names[pd.Name] {
				p.add("/portDefinitions", "Port names must be unique.")
			}
			names[pd.Name] = true
		}
		if pd.Port != 0 {
			if ports[pd.Port] {
				p.add("/portDefinitions", "Ports must be unique.")
			}
			ports[pd.Port] = true
		} else if app.RequirePorts && !containerNet {
			p.add(path+"/port", "must not be 0 when requirePorts is true")
		}
	}
	if app.Container == nil {
		return
	}
	mappings := app.Container.PortMappings
	if !containerNet && len(mappings) > 0 {
		p.add("/container/portMappings", "need container or container/bridge networking")
	}
	netNames := map[string]bool{}
	containerNets := 0
	for _, n := range app.Networks {
		if n.Mode == modeContainer {
			containerNets++
			netNames[n.Name] = true
		}
	}
	names = map[string]bool{}
	for i, pm := range mappings {
		path := idx("/container/portMappings", i)
		p.portNumber(path+"/containerPort", pm.ContainerPort)
		if pm.HostPort != nil {
			p.portNumber(path+"/hostPort", *pm.HostPort)
			if containerNets > 1 && len(pm.NetworkNames) == 0 {
				p.add(path+"/networkNames", "must name a network when hostPort is set with several container networks")
			}
		}
		p.portNumber(path+"/servicePort", pm.ServicePort)
		if !validProtocol(pm.Protocol) {
			p.add(path+"/protocol", "must be one of tcp, udp, udp,tcp")
		}
		if pm.Name != "" {
			if names[pm.Name] {
				p.add("/container/portMappings", "Port names must be unique.")
			}
			names[pm.Name] = true
		}
		for j, nn := range pm.NetworkNames {
			if !netNames[nn] {
				p.add(idx(path+"/networkNames", j), "must name one of the app's container networks")
			}
		}
	}
}

// portCount is the number of ports health checks can address by index.
func portCount(app marathon.App) int {
	if usesContainerNetworking(app) {
		if app.Container == nil {
			return 0
		}
		return len(app.Container.PortMappings)
	}
	return len(app.PortDefinitions)
}

// portNames are the names readiness checks can refer to.
func portNames(app marathon.App) map[string]bool {
	names := map[string]bool{}
	if usesContainerNetworking(app) {
		if app.Container != nil {
			for _, pm := range app.Container.PortMappings {
				names[pm.Name] = true
			}
		}
	} else {
		for _, pd := range app.PortDefinitions {
			names[pd.Name] = true
		}
	}
	delete(names, "")
	return names
}

// healthProtocols are the health check protocols of reference §2.5 (read-only).
var healthProtocols = []string{"HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}

func validateHealthChecks(p problems, app marathon.App) {
	n := portCount(app)
	mesosChecks := 0
	for i, hc := range app.HealthChecks {
		path := idx("/healthChecks", i)
		if !slices.Contains(healthProtocols, hc.Protocol) {
			p.add(path+"/protocol", "must be one of %s", strings.Join(healthProtocols, ", "))
		}
		if hc.Protocol == "COMMAND" || strings.HasPrefix(hc.Protocol, "MESOS_") {
			mesosChecks++
		}
		if hc.Protocol == "COMMAND" {
			if hc.Command == nil || strings.TrimSpace(hc.Command.Value) == "" {
				p.add(path+"/command", "a command is required with the COMMAND protocol")
			}
		} else {
			if hc.Command != nil {
				p.add(path+"/command", "is only allowed with the COMMAND protocol")
			}
			if hc.Port != nil {
				p.portNumber(path+"/port", *hc.Port)
			} else if hc.PortIndex == nil || *hc.PortIndex < 0 || *hc.PortIndex >= n {
				p.add(path, msgPortIndex)
			}
		}
		if hc.GracePeriodSeconds < 0 {
			p.add(path+"/gracePeriodSeconds", "got %d, expected 0 or more", hc.GracePeriodSeconds)
		}
		if hc.IntervalSeconds < 1 {
			p.add(path+"/intervalSeconds", "got %d, expected 1 or more", hc.IntervalSeconds)
		}
		if hc.TimeoutSeconds < 1 {
			p.add(path+"/timeoutSeconds", "got %d, expected 1 or more", hc.TimeoutSeconds)
		}
		if hc.MaxConsecutiveFailures < 0 {
			p.add(path+"/maxConsecutiveFailures", "got %d, expected 0 or more", hc.MaxConsecutiveFailures)
		}
		if hc.DelaySeconds < 0 {
			p.add(path+"/delaySeconds", "got %d, expected 0 or more", hc.DelaySeconds)
		}
		if hc.IPProtocol != "" && hc.IPProtocol != "IPv4" && hc.IPProtocol != "IPv6" {
			p.add(path+"/ipProtocol", "must be one of IPv4, IPv6")
		}
	}
	if mesosChecks > 1 {
		p.add("/healthChecks", "Mesos supports at most one COMMAND or MESOS_* health check per task")
	}
}

func validateReadiness(p problems, app marathon.App) {
	if len(app.ReadinessChecks) > 1 {
		p.add("/readinessChecks", "must contain at most one readiness check")
	}
	names := portNames(app)
	for i, rc := range app.ReadinessChecks {
		path := idx("/readinessChecks", i)
		if rc.Name == "" {
			p.add(path+"/name", msgNotEmpty)
		}
		if rc.Protocol != "HTTP" && rc.Protocol != "HTTPS" {
			p.add(path+"/protocol", "must be one of HTTP, HTTPS")
		}
		if !names[rc.PortName] {
			p.add(path+"/portName", "no port named '%s' in the app's ports", rc.PortName)
		}
		if rc.IntervalSeconds < 1 {
			p.add(path+"/intervalSeconds", "got %d, expected 1 or more", rc.IntervalSeconds)
		}
		if rc.TimeoutSeconds < 1 {
			p.add(path+"/timeoutSeconds", "got %d, expected 1 or more", rc.TimeoutSeconds)
		} else if rc.TimeoutSeconds >= rc.IntervalSeconds && rc.IntervalSeconds >= 1 {
			p.add(path+"/timeoutSeconds", "must be less than intervalSeconds")
		}
		if len(rc.HTTPStatusCodesForReady) == 0 {
			p.add(path+"/httpStatusCodesForReady", msgNotEmpty)
		}
		for j, c := range rc.HTTPStatusCodesForReady {
			if c < 100 || c > 999 {
				p.add(idx(path+"/httpStatusCodesForReady", j), "must be an HTTP status code")
			}
		}
	}
}

func validateCheck(p problems, app marathon.App) {
	c := app.Check
	if c == nil {
		return
	}
	kinds := 0
	n := portCount(app)
	checkPort := func(path string, portIndex, port *int) {
		switch {
		case port != nil:
			p.portNumber(path+"/port", *port)
		case portIndex == nil || *portIndex < 0 || *portIndex >= n:
			p.add(path, msgPortIndex)
		}
	}
	if c.HTTP != nil {
		kinds++
		checkPort("/check/http", c.HTTP.PortIndex, c.HTTP.Port)
	}
	if c.TCP != nil {
		kinds++
		checkPort("/check/tcp", c.TCP.PortIndex, c.TCP.Port)
	}
	if c.Exec != nil {
		kinds++
		if c.Exec.Command.Shell == "" && len(c.Exec.Command.Argv) == 0 {
			p.add("/check/exec/command", "must have a shell command or argv")
		}
	}
	if kinds != 1 {
		p.add("/check", "must have exactly one of http, tcp and exec")
	}
	if c.IntervalSeconds < 1 {
		p.add("/check/intervalSeconds", "got %d, expected 1 or more", c.IntervalSeconds)
	}
	if c.TimeoutSeconds < 1 {
		p.add("/check/timeoutSeconds", "got %d, expected 1 or more", c.TimeoutSeconds)
	}
	if c.DelaySeconds < 0 {
		p.add("/check/delaySeconds", "got %d, expected 0 or more", c.DelaySeconds)
	}
}

// validRoleName follows Mesos's role-name rules: not empty, not "." or
// "..", not starting with "-", no whitespace, control characters or
// backslashes; "/" separates hierarchical role segments.
func validRoleName(r string) bool {
	if r == "*" {
		return true
	}
	if r == "" || strings.HasPrefix(r, "/") || strings.HasSuffix(r, "/") {
		return false
	}
	for seg := range strings.SplitSeq(r, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, "-") || seg == "*" {
			return false
		}
		for _, c := range seg {
			if c <= ' ' || c == 0x7f || c == '\\' {
				return false
			}
		}
	}
	return true
}

// allowedRoles are the roles an app may take and accept resources of: the
// framework role, "*", and the app's top-level group (Marathon ≥1.9 group
// roles).
func allowedRoles(app marathon.App, opts Options) []string {
	roles := []string{"*"}
	if opts.MesosRole != "" && opts.MesosRole != "*" {
		roles = append(roles, opts.MesosRole)
	}
	if segs := pathSegments(app.ID); len(segs) > 1 && !slices.Contains(roles, segs[0]) {
		roles = append(roles, segs[0])
	}
	return roles
}

func validateRoles(p problems, app marathon.App, opts Options) {
	allowed := allowedRoles(app, opts)
	if app.Role != nil {
		role := *app.Role
		switch {
		case !validRoleName(role):
			p.add("/role", "'%s' is not a valid role name", role)
		case !slices.Contains(allowed, role):
			p.add("/role", "must be one of %s", strings.Join(allowed, ", "))
		}
	}
	seen := map[string]bool{}
	for i, r := range app.AcceptedResourceRoles {
		if seen[r] {
			p.add("/acceptedResourceRoles", "elements must be unique")
		}
		seen[r] = true
		// Any valid role is accepted (not only "*" and the app's role, as
		// Marathon ≥1.9 enforces): DC/OS packages such as marathon-lb ask
		// for "slave_public" while the framework role is "*".
		if !validRoleName(r) {
			p.add(idx("/acceptedResourceRoles", i), "'%s' is not a valid role name", r)
		}
	}
}

func validateEnvAndSecrets(p problems, app marathon.App) {
	for k, v := range app.Env {
		if k == "" {
			p.add("/env", "keys must not be empty")
		}
		if v.Secret != "" {
			if _, ok := app.Secrets[v.Secret]; !ok {
				p.add(sub("/env", k), "references an undefined secret named '%s'", v.Secret)
			}
		}
	}
	for name, s := range app.Secrets {
		if name == "" {
			p.add("/secrets", "names must not be empty")
		}
		if strings.TrimSpace(s.Source) == "" {
			p.add(sub("/secrets", name)+"/source", msgNotEmpty)
		}
	}
}

func validateContainer(p problems, app marathon.App) {
	c := app.Container
	if c == nil {
		return
	}
	switch c.Type {
	case containerDocker:
		if c.Docker == nil {
			p.add("/container/docker", "must be given for a DOCKER container")
		}
	case containerMesos:
		if c.Docker != nil && c.Docker.Privileged {
			p.add("/container/docker/privileged", "only the Docker containerizer supports privileged containers")
		}
		if c.Docker != nil && len(c.Docker.Parameters) > 0 {
			p.add("/container/docker/parameters", "only the Docker containerizer supports parameters")
		}
	default:
		p.add("/container/type", "must be one of DOCKER, MESOS")
	}
	if d := c.Docker; d != nil {
		if strings.TrimSpace(d.Image) == "" {
			p.add("/container/docker/image", msgNotEmpty)
		}
		for i, prm := range d.Parameters {
			if prm.Key == "" {
				p.add(idx("/container/docker/parameters", i)+"/key", msgNotEmpty)
			}
		}
		if d.PullConfig != nil {
			if _, ok := app.Secrets[d.PullConfig.Secret]; !ok {
				p.add("/container/docker/pullConfig/secret", "references an undefined secret named '%s'", d.PullConfig.Secret)
			}
		}
	}
	if ipc := c.LinuxInfo; ipc != nil && ipc.IPCInfo != nil {
		if m := ipc.IPCInfo.Mode; m != "PRIVATE" && m != "SHARE_PARENT" {
			p.add("/container/linuxInfo/ipcInfo/mode", "must be one of PRIVATE, SHARE_PARENT")
		}
	}
	paths := map[string]bool{}
	for i, v := range c.Volumes {
		validateVolume(p, idx("/container/volumes", i), v, app)
		if v.ContainerPath != "" {
			if paths[v.ContainerPath] {
				p.add("/container/volumes", "containerPath must be unique")
			}
			paths[v.ContainerPath] = true
		}
	}
}

func validateVolume(p problems, path string, v marathon.Volume, app marathon.App) {
	if strings.TrimSpace(v.ContainerPath) == "" {
		p.add(path+"/containerPath", msgNotEmpty)
	}
	kinds := 0
	for _, set := range []bool{v.HostPath != "", v.Persistent != nil, v.External != nil, v.Secret != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		p.add(path, "must be exactly one of a host, persistent, external or secret volume")
		return
	}
	switch {
	case v.HostPath != "":
		if v.Mode != "RO" && v.Mode != "RW" {
			p.add(path+"/mode", "must be one of RO, RW")
		}
	case v.Persistent != nil:
		pv := v.Persistent
		if strings.Contains(v.ContainerPath, "/") || v.ContainerPath == "." || v.ContainerPath == ".." {
			p.add(path+"/containerPath", "must be a single relative path segment for a persistent volume")
		}
		if v.Mode != "" && v.Mode != "RW" {
			p.add(path+"/mode", "must be RW for a persistent volume")
		}
		if !(pv.Size > 0) {
			p.add(path+"/persistent/size", "must be greater than 0")
		}
		switch pv.Type {
		case "", "root", "path":
			if pv.MaxSize != 0 {
				p.add(path+"/persistent/maxSize", "is only allowed for mount volumes")
			}
		case "mount":
			if pv.MaxSize != 0 && pv.MaxSize < pv.Size {
				p.add(path+"/persistent/maxSize", "must be at least size")
			}
		default:
			p.add(path+"/persistent/type", "must be one of root, path, mount")
		}
		validateConstraints(p, path+"/persistent/constraints", pv.Constraints)
	case v.External != nil:
		if strings.TrimSpace(v.External.Name) == "" {
			p.add(path+"/external/name", msgNotEmpty)
		}
		if v.External.Provider != "dvdi" && v.External.Provider != "csi" {
			p.add(path+"/external/provider", "must be one of dvdi, csi")
		}
		if v.Mode != "" && v.Mode != "RO" && v.Mode != "RW" {
			p.add(path+"/mode", "must be one of RO, RW")
		}
	default:
		if _, ok := app.Secrets[v.Secret]; !ok {
			p.add(path+"/secret", "references an undefined secret named '%s'", v.Secret)
		}
	}
}

// validateResident checks the rules of apps with persistent volumes
// (reference §11 item 6).
func validateResident(p problems, app marathon.App) {
	if !isResident(app) {
		return
	}
	if u := app.UpgradeStrategy; u != nil {
		if u.MinimumHealthCapacity > 0.5 {
			p.add("/upgradeStrategy/minimumHealthCapacity", "must be 0.5 or less for resident apps")
		}
		if u.MaximumOverCapacity != 0 {
			p.add("/upgradeStrategy/maximumOverCapacity", "must be 0 for resident apps")
		}
	}
	if u := app.UnreachableStrategy; u != nil && !u.Disabled {
		p.add("/unreachableStrategy", "must be disabled for resident apps")
	}
}

// ValidateGroup checks a decoded group tree (ids under the group, no app
// and group with the same id, dependencies well-formed) and its apps.
// Problems of nested objects carry their path: "/apps(0)/cpus",
// "/groups(1)/apps(0)/id".
func ValidateGroup(g marathon.Group, opts Options) error {
	p := problems{}
	seen := map[string]string{} // id -> path of its first owner
	validateGroup(p, "", g, "", seen, opts)
	return p.err()
}

func validateGroup(p problems, prefix string, g marathon.Group, parent string, seen map[string]string, opts Options) {
	validateID(p, prefix+"/id", g.ID, parent == "")
	if parent != "" && g.ID != "" && Parent(g.ID) != parent {
		p.add(prefix+"/id", "group '%s' is not a direct child of '%s'", g.ID, parent)
	}
	claim := func(path, id string) {
		if id == "" {
			return
		}
		if first, ok := seen[id]; ok {
			p.add(path, "id '%s' is already used at %s", id, first)
			return
		}
		seen[id] = path
	}
	if parent != "" {
		claim(prefix+"/id", g.ID)
	}
	for i, d := range g.Dependencies {
		if c, err := CanonicalID(d, "/"); err != nil || c != d || c == "/" {
			p.add(idx(prefix+"/dependencies", i), idSyntaxMessage)
		}
	}
	for i, app := range g.Apps {
		path := idx(prefix+"/apps", i)
		q := problems{}
		validateApp(q, app, opts)
		p.merge(path, q)
		if app.ID != "" && Parent(app.ID) != g.ID {
			p.add(path+"/id", "app '%s' is not a direct child of group '%s'", app.ID, g.ID)
		}
		claim(path+"/id", app.ID)
	}
	for i, sub := range g.Groups {
		validateGroup(p, idx(prefix+"/groups", i), sub, g.ID, seen, opts)
	}
}
