package match

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// maxLabelEnvLength bounds label keys and values exported as
// MARATHON_APP_LABEL_* variables; longer ones are skipped.
const maxLabelEnvLength = 512

// environment builds the task's variables (reference §2.8), sorted by
// name. The app's own env wins over injected variables; entries that
// reference a secret are skipped, as there is no secret store yet.
func environment(app marathon.App, p TaskParams, ports []resolvedPort, cfg Config) *mesosv1.Environment {
	env := map[string]string{}
	pre := cfg.EnvVarsPrefix

	var all []string
	for i, pt := range ports {
		n := pt.effective()
		if n == 0 {
			continue
		}
		s := strconv.Itoa(n)
		all = append(all, s)
		env[pre+"PORT"+strconv.Itoa(i)] = s
		if i == 0 {
			env[pre+"PORT"] = s
		}
		if pt.name != "" {
			env[pre+"PORT_"+strings.ToUpper(pt.name)] = s
		}
	}
	if len(all) > 0 {
		env[pre+"PORTS"] = strings.Join(all, ",")
	}
	env[pre+"HOST"] = p.Hostname

	env["MARATHON_APP_ID"] = app.ID
	env["MARATHON_APP_VERSION"] = app.Version
	if hasImage(app) {
		env["MARATHON_APP_DOCKER_IMAGE"] = app.Container.Docker.Image
	}
	env["MARATHON_APP_RESOURCE_CPUS"] = scalaDouble(app.Cpus)
	env["MARATHON_APP_RESOURCE_MEM"] = scalaDouble(app.Mem)
	env["MARATHON_APP_RESOURCE_DISK"] = scalaDouble(app.Disk)
	env["MARATHON_APP_RESOURCE_GPUS"] = strconv.Itoa(app.Gpus) // an Int in Marathon
	env["MESOS_TASK_ID"] = p.TaskID

	var keys []string
	for _, k := range slices.Sorted(maps.Keys(app.Labels)) {
		v := app.Labels[k]
		if len(k) > maxLabelEnvLength || len(v) > maxLabelEnvLength {
			continue
		}
		ek := envKey(k)
		keys = append(keys, ek)
		env["MARATHON_APP_LABEL_"+ek] = v
	}
	env["MARATHON_APP_LABELS"] = strings.Join(keys, " ")

	for k, v := range app.Env {
		if v.Secret != "" {
			continue
		}
		env[k] = v.Value
	}

	out := &mesosv1.Environment{Variables: make([]mesosv1.EnvVariable, 0, len(env))}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out.Variables = append(out.Variables, mesosv1.EnvVariable{Name: k, Value: env[k]})
	}
	return out
}

// envKey turns a label key into an env name suffix: characters outside
// [A-Za-z0-9_] become "_", letters are upper-cased.
func envKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// scalaDouble renders v as Scala's (Java's) Double.toString does, which is
// how Marathon writes MARATHON_APP_RESOURCE_*: "128.0", "0.1", "1.0E7".
// Java uses scientific notation below 1e-3 and from 1e7 on.
func scalaDouble(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	a := math.Abs(v)
	if a != 0 && (a < 1e-3 || a >= 1e7) {
		mant, exp, _ := strings.Cut(strconv.FormatFloat(v, 'E', -1, 64), "E")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		e, _ := strconv.Atoi(exp)
		return mant + "E" + strconv.Itoa(e)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
