package appdef

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// validationDetails decodes body and returns ValidateApp's details (nil when valid).
func validationDetails(t *testing.T, body string) []marathon.ErrorDetail {
	t.Helper()
	app := mustDecode(t, body, "/")
	err := ValidateApp(app, DefaultOptions())
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	return ve.Details
}

type d = marathon.ErrorDetail

func TestValidateAppValid(t *testing.T) {
	bodies := []string{
		`{"id":"/basic-0","cmd":"while true; do echo hi; sleep 5; done","cpus":0.1,"mem":32,"instances":1}`,
		`{"id":"/nginx","container":{"type":"DOCKER","docker":{"image":"nginx"},"portMappings":[{"containerPort":80,"hostPort":0,"name":"http"}]},
		  "networks":[{"mode":"container/bridge"}],"healthChecks":[{"protocol":"MESOS_HTTP","portIndex":0}],
		  "readinessChecks":[{"portName":"http"}],"acceptedResourceRoles":["slave_public"]}`,
		`{"id":"/g/db","cmd":"x","container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"type":"mount","size":100,"maxSize":200}}]}}`,
		`{"id":"/c","cmd":"x","constraints":[["hostname","UNIQUE"],["rack","GROUP_BY","3"],["rack","GROUP_BY"],["a","LIKE","r[0-9]+"],["a","UNLIKE","x"],["a","MAX_PER","2"],["a","IS","v"],["a","CLUSTER"],["a","CLUSTER","v"]]}`,
		`{"id":"/s","cmd":"x","env":{"PW":{"secret":"pw"}},"secrets":{"pw":{"source":"/p"}},"container":{"type":"MESOS","volumes":[{"containerPath":"/s","secret":"pw"}]}}`,
		`{"id":"/o","cmd":"x","networks":[{"mode":"container","name":"a"},{"mode":"container","name":"b"}],"container":{"type":"MESOS","portMappings":[{"containerPort":80,"hostPort":0,"networkNames":["a"]}]}}`,
		`{"id":"/h","cmd":"x","healthChecks":[{"protocol":"COMMAND","command":{"value":"true"}},{"protocol":"TCP","port":22}],"requirePorts":true,"portDefinitions":[{"port":8080}]}`,
		`{"id":"/u","cmd":"x","unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":600},"check":{"http":{"portIndex":0,"path":"/"}}}`,
		`{"id":"/dev/r","cmd":"x","role":"dev","resourceLimits":{"cpus":"unlimited","mem":256}}`,
	}
	for _, b := range bodies {
		if got := validationDetails(t, b); got != nil {
			t.Errorf("ValidateApp(%s) = %v, want valid", b, got)
		}
	}
}

func TestValidateAppRules(t *testing.T) {
	tests := []struct {
		name, body string
		want       []d
	}{
		{"id syntax", `{"id":"/Bad_Id","cmd":"x"}`, []d{{Path: "/id", Errors: []string{idSyntaxMessage}}}},
		{"id missing", `{"cmd":"x"}`, []d{{Path: "/id", Errors: []string{msgNotEmpty}}}},
		{"id root", `{"id":"/","cmd":"x"}`, []d{{Path: "/id", Errors: []string{"must not be the root group"}}}},
		{"no cmd, args or container", `{"id":"/a"}`, []d{{Path: "/", Errors: []string{msgNoCmdArgsContainer}}}},
		{"cmd and args", `{"id":"/a","cmd":"x","args":["y"]}`, []d{{Path: "/", Errors: []string{msgCmdAndArgs}}}},
		{"empty cmd", `{"id":"/a","cmd":" "}`, []d{{Path: "/cmd", Errors: []string{msgNotEmpty}}}},
		{"negative resources", `{"id":"/a","cmd":"x","cpus":-1,"mem":-2,"disk":-0.5,"gpus":-1,"instances":-1}`, []d{
			{Path: "/cpus", Errors: []string{"got -1, expected 0 or more"}},
			{Path: "/disk", Errors: []string{"got -0.5, expected 0 or more"}},
			{Path: "/gpus", Errors: []string{"got -1, expected 0 or more"}},
			{Path: "/instances", Errors: []string{"got -1, expected 0 or more"}},
			{Path: "/mem", Errors: []string{"got -2, expected 0 or more"}},
		}},
		{"gpus with docker", `{"id":"/a","gpus":1,"container":{"docker":{"image":"x"}}}`, []d{{Path: "/gpus", Errors: []string{"GPU resources only work with the Mesos containerizer"}}}},
		{"backoff", `{"id":"/a","cmd":"x","backoffFactor":0.5,"backoffSeconds":-1,"maxLaunchDelaySeconds":-1}`, []d{
			{Path: "/backoffFactor", Errors: []string{"got 0.5, expected 1 or more"}},
			{Path: "/backoffSeconds", Errors: []string{"got -1, expected 0 or more"}},
			{Path: "/maxLaunchDelaySeconds", Errors: []string{"got -1, expected 0 or more"}},
		}},
		{"upgrade strategy bounds", `{"id":"/a","cmd":"x","upgradeStrategy":{"minimumHealthCapacity":1.5,"maximumOverCapacity":-0.1}}`, []d{
			{Path: "/upgradeStrategy/maximumOverCapacity", Errors: []string{msgLessThanZero}},
			{Path: "/upgradeStrategy/minimumHealthCapacity", Errors: []string{msgGreaterThanOne}},
		}},
		{"constraints", `{"id":"/a","cmd":"x","constraints":[["h"],["","UNIQUE"],["h","NEAR","x"],["h","UNIQUE","x"],["h","LIKE"],["h","LIKE","[a"],["h","MAX_PER","two"],["h","IS"],["h","GROUP_BY","-1"]]}`, []d{
			{Path: "/constraints(0)", Errors: []string{"Each constraint must have either 2 or 3 fields"}},
			{Path: "/constraints(1)", Errors: []string{"Constraint field must not be empty"}},
			{Path: "/constraints(2)", Errors: []string{"Constraint operator must be one of the following: [CLUSTER, GROUP_BY, IS, LIKE, MAX_PER, UNIQUE, UNLIKE]"}},
			{Path: "/constraints(3)", Errors: []string{"UNIQUE does not take a value"}},
			{Path: "/constraints(4)", Errors: []string{"A regular expression value must be provided"}},
			{Path: "/constraints(5)", Errors: []string{"'[a' is not a valid regular expression"}},
			{Path: "/constraints(6)", Errors: []string{"MAX_PER must have a non-negative integer value"}},
			{Path: "/constraints(7)", Errors: []string{"IS requires a value"}},
			{Path: "/constraints(8)", Errors: []string{"GROUP_BY may either have no value or a non-negative integer value"}},
		}},
		{"port definitions", `{"id":"/a","cmd":"x","portDefinitions":[{"port":70000,"name":"a"},{"port":80,"protocol":"sctp","name":"a"},{"port":80}]}`, []d{
			{Path: "/portDefinitions", Errors: []string{"Port names must be unique.", "Ports must be unique."}},
			{Path: "/portDefinitions(0)/port", Errors: []string{"got 70000, expected a port between 0 and 65535"}},
			{Path: "/portDefinitions(1)/protocol", Errors: []string{"must be one of tcp, udp, udp,tcp"}},
		}},
		{"requirePorts with port 0", `{"id":"/a","cmd":"x","requirePorts":true}`, []d{{Path: "/portDefinitions(0)/port", Errors: []string{"must not be 0 when requirePorts is true"}}}},
		{"port definitions with container networking", `{"id":"/a","cmd":"x","networks":[{"mode":"container","name":"dcos"}],"portDefinitions":[{"port":0}]}`, []d{
			{Path: "/portDefinitions", Errors: []string{"must be empty with container networking; use container.portMappings"}},
		}},
		{"port mappings with host networking", `{"id":"/a","container":{"docker":{"image":"x"},"portMappings":[{"containerPort":80}]}}`, []d{
			{Path: "/container/portMappings", Errors: []string{"need container or container/bridge networking"}},
		}},
		{"port mapping fields", `{"id":"/a","networks":[{"mode":"container","name":"a"},{"mode":"container","name":"b"}],"container":{"type":"MESOS","portMappings":[{"containerPort":-1,"hostPort":0,"protocol":"x","name":"p"},{"containerPort":1,"name":"p","networkNames":["c"]}]}}`, []d{
			{Path: "/container/portMappings", Errors: []string{"Port names must be unique."}},
			{Path: "/container/portMappings(0)/containerPort", Errors: []string{"got -1, expected a port between 0 and 65535"}},
			{Path: "/container/portMappings(0)/networkNames", Errors: []string{"must name a network when hostPort is set with several container networks"}},
			{Path: "/container/portMappings(0)/protocol", Errors: []string{"must be one of tcp, udp, udp,tcp"}},
			{Path: "/container/portMappings(1)/networkNames(0)", Errors: []string{"must name one of the app's container networks"}},
		}},
		{"health checks", `{"id":"/a","cmd":"x","portDefinitions":[],"healthChecks":[{"protocol":"HTTP"},{"protocol":"COMMAND"},{"protocol":"GOPHER","port":1},{"protocol":"MESOS_TCP","port":1,"intervalSeconds":0,"timeoutSeconds":0,"ipProtocol":"IPv5"}]}`, []d{
			{Path: "/healthChecks", Errors: []string{"Mesos supports at most one COMMAND or MESOS_* health check per task"}},
			{Path: "/healthChecks(0)", Errors: []string{msgPortIndex}},
			{Path: "/healthChecks(1)/command", Errors: []string{"a command is required with the COMMAND protocol"}},
			{Path: "/healthChecks(2)/protocol", Errors: []string{"must be one of HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP"}},
			{Path: "/healthChecks(3)/intervalSeconds", Errors: []string{"got 0, expected 1 or more"}},
			{Path: "/healthChecks(3)/ipProtocol", Errors: []string{"must be one of IPv4, IPv6"}},
			{Path: "/healthChecks(3)/timeoutSeconds", Errors: []string{"got 0, expected 1 or more"}},
		}},
		{"health check port index beyond ports", `{"id":"/a","cmd":"x","healthChecks":[{"portIndex":1}]}`, []d{{Path: "/healthChecks(0)", Errors: []string{msgPortIndex}}}},
		{"readiness checks", `{"id":"/a","cmd":"x","readinessChecks":[{"portName":"default","protocol":"TCP"},{"timeoutSeconds":40,"httpStatusCodesForReady":[]}]}`, []d{
			{Path: "/readinessChecks", Errors: []string{"must contain at most one readiness check"}},
			{Path: "/readinessChecks(0)/protocol", Errors: []string{"must be one of HTTP, HTTPS"}},
			{Path: "/readinessChecks(1)/httpStatusCodesForReady", Errors: []string{msgNotEmpty}},
			{Path: "/readinessChecks(1)/portName", Errors: []string{"no port named 'http-api' in the app's ports"}},
			{Path: "/readinessChecks(1)/timeoutSeconds", Errors: []string{"must be less than intervalSeconds"}},
		}},
		{"kill selection", `{"id":"/a","cmd":"x","killSelection":"RANDOM"}`, []d{{Path: "/killSelection", Errors: []string{"must be one of YOUNGEST_FIRST, OLDEST_FIRST"}}}},
		{"networks mixed", `{"id":"/a","cmd":"x","networks":[{"mode":"host"},{"mode":"container/bridge"},{"mode":"overlay"}]}`, []d{
			{Path: "/networks", Errors: []string{"must not mix host, container and container/bridge networking"}},
			{Path: "/networks(2)/mode", Errors: []string{"must be one of host, container, container/bridge"}},
		}},
		{"two host networks", `{"id":"/a","cmd":"x","networks":[{"mode":"host"},{"mode":"host","name":"n"}]}`, []d{
			{Path: "/networks", Errors: []string{"must contain at most one host network"}},
			{Path: "/networks(1)/name", Errors: []string{"must be empty for host networking"}},
		}},
		{"docker with two container networks", `{"id":"/a","networks":[{"mode":"container","name":"a"},{"mode":"container","name":"b"}],"container":{"docker":{"image":"x"},"portMappings":[]}}`, []d{
			{Path: "/networks", Errors: []string{"the Docker containerizer supports only one container network"}},
		}},
		{"accepted resource roles", `{"id":"/a","cmd":"x","acceptedResourceRoles":["*","*","-bad","slave_public"]}`, []d{
			{Path: "/acceptedResourceRoles", Errors: []string{"elements must be unique"}},
			{Path: "/acceptedResourceRoles(2)", Errors: []string{"'-bad' is not a valid role name"}},
		}},
		{"role", `{"id":"/dev/a","cmd":"x","role":"prod"}`, []d{{Path: "/role", Errors: []string{"must be one of *, dev"}}}},
		{"user and env", `{"id":"/a","cmd":"x","user":"","env":{"":"x","PW":{"secret":"nope"}},"labels":{"":"x"}}`, []d{
			{Path: "/env", Errors: []string{"keys must not be empty"}},
			{Path: "/env/PW", Errors: []string{"references an undefined secret named 'nope'"}},
			{Path: "/labels", Errors: []string{"keys must not be empty"}},
			{Path: "/user", Errors: []string{msgNotEmpty}},
		}},
		{"dependencies", `{"id":"/a","cmd":"x","dependencies":["/Bad","/a"]}`, []d{
			{Path: "/dependencies(0)", Errors: []string{idSyntaxMessage}},
			{Path: "/dependencies(1)", Errors: []string{"an app cannot depend on itself"}},
		}},
		{"docker needs an image", `{"id":"/a","container":{"type":"DOCKER"}}`, []d{{Path: "/container/docker", Errors: []string{"must be given for a DOCKER container"}}}},
		{"docker image empty and bad type", `{"id":"/a","container":{"type":"RKT","docker":{"image":""}}}`, []d{
			{Path: "/container/docker/image", Errors: []string{msgNotEmpty}},
			{Path: "/container/type", Errors: []string{"must be one of DOCKER, MESOS"}},
		}},
		{"mesos container with docker-only options", `{"id":"/a","container":{"type":"MESOS","docker":{"image":"x","privileged":true,"parameters":[{"key":"k","value":"v"}]}}}`, []d{
			{Path: "/container/docker/parameters", Errors: []string{"only the Docker containerizer supports parameters"}},
			{Path: "/container/docker/privileged", Errors: []string{"only the Docker containerizer supports privileged containers"}},
		}},
		{"volumes", `{"id":"/a","cmd":"x","container":{"type":"MESOS","volumes":[
			{"containerPath":"/h","hostPath":"/tmp"},
			{"containerPath":"a/b","persistent":{"size":0,"type":"disk"},"mode":"RO"},
			{"containerPath":"/e","external":{"provider":"nfs"}},
			{"containerPath":"/s","secret":"missing"},
			{"containerPath":"","hostPath":"/x","persistent":{"size":1}}]},
			"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":0},"unreachableStrategy":"disabled"}`, []d{
			{Path: "/container/volumes(0)/mode", Errors: []string{"must be one of RO, RW"}},
			{Path: "/container/volumes(1)/containerPath", Errors: []string{"must be a single relative path segment for a persistent volume"}},
			{Path: "/container/volumes(1)/mode", Errors: []string{"must be RW for a persistent volume"}},
			{Path: "/container/volumes(1)/persistent/size", Errors: []string{"must be greater than 0"}},
			{Path: "/container/volumes(1)/persistent/type", Errors: []string{"must be one of root, path, mount"}},
			{Path: "/container/volumes(2)/external/name", Errors: []string{msgNotEmpty}},
			{Path: "/container/volumes(2)/external/provider", Errors: []string{"must be one of dvdi, csi"}},
			{Path: "/container/volumes(3)/secret", Errors: []string{"references an undefined secret named 'missing'"}},
			{Path: "/container/volumes(4)", Errors: []string{"must be exactly one of a host, persistent, external or secret volume"}},
			{Path: "/container/volumes(4)/containerPath", Errors: []string{msgNotEmpty}},
			{Path: "/upgradeStrategy/minimumHealthCapacity", Errors: []string{"must be 0.5 or less for resident apps"}},
		}},
		{"resident app strategies", `{"id":"/a","cmd":"x","container":{"type":"MESOS","volumes":[{"containerPath":"d","persistent":{"size":1}}]},
			"upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":1},"unreachableStrategy":{"inactiveAfterSeconds":1,"expungeAfterSeconds":2}}`, []d{
			{Path: "/unreachableStrategy", Errors: []string{"must be disabled for resident apps"}},
			{Path: "/upgradeStrategy/maximumOverCapacity", Errors: []string{"must be 0 for resident apps"}},
		}},
		{"unreachable strategy order", `{"id":"/a","cmd":"x","unreachableStrategy":{"inactiveAfterSeconds":600,"expungeAfterSeconds":60}}`, []d{
			{Path: "/unreachableStrategy/expungeAfterSeconds", Errors: []string{"must be greater than or equal to inactiveAfterSeconds"}},
		}},
		{"check", `{"id":"/a","cmd":"x","check":{"http":{"portIndex":3},"tcp":{"port":1}}}`, []d{
			{Path: "/check", Errors: []string{"must have exactly one of http, tcp and exec"}},
			{Path: "/check/http", Errors: []string{msgPortIndex}},
		}},
		{"resource limits", `{"id":"/a","cmd":"x","mem":128,"resourceLimits":{"mem":64}}`, []d{
			{Path: "/resourceLimits/mem", Errors: []string{"must be at least the requested amount (128)"}},
		}},
		{"fetch and executor", `{"id":"/a","cmd":"x","fetch":[{"uri":" "}],"executor":"a b"}`, []d{
			{Path: "/executor", Errors: []string{"must be empty, //cmd or a path"}},
			{Path: "/fetch(0)/uri", Errors: []string{msgNotEmpty}},
		}},
		{"many problems at once", `{"id":"/a","cpus":-1,"killSelection":"X","upgradeStrategy":{"minimumHealthCapacity":2,"maximumOverCapacity":1}}`, []d{
			{Path: "/", Errors: []string{msgNoCmdArgsContainer}},
			{Path: "/cpus", Errors: []string{"got -1, expected 0 or more"}},
			{Path: "/killSelection", Errors: []string{"must be one of YOUNGEST_FIRST, OLDEST_FIRST"}},
			{Path: "/upgradeStrategy/minimumHealthCapacity", Errors: []string{msgGreaterThanOne}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, validationDetails(t, tt.body)); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateAppNetworkName(t *testing.T) {
	app := mustDecode(t, `{"id":"/a","cmd":"x","networks":[{"mode":"container"}]}`, "/")
	if err := ValidateApp(app, DefaultOptions()); err != nil {
		t.Errorf("with the default network name: %v", err)
	}
	opts := DefaultOptions()
	opts.DefaultNetworkName = ""
	var ve *ValidationError
	if err := ValidateApp(app, opts); !errors.As(err, &ve) || ve.Details[0].Path != "/networks(0)/name" {
		t.Errorf("without a default network name: err = %v", err)
	}
}

func TestValidateGroup(t *testing.T) {
	body := `{"id":"/shop","dependencies":["/Bad"],
		"apps":[{"id":"web","cmd":"x"},{"id":"/elsewhere/db","cmd":"y"},{"id":"batch","cpus":-1}],
		"groups":[{"id":"batch"},{"id":"/other/g","apps":[{"id":"a"}]}]}`
	g, err := DecodeGroup([]byte(body), "/")
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateGroup(g, DefaultOptions())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []d{
		{Path: "/apps(1)/id", Errors: []string{"app '/elsewhere/db' is not a direct child of group '/shop'"}},
		{Path: "/apps(2)", Errors: []string{msgNoCmdArgsContainer}},
		{Path: "/apps(2)/cpus", Errors: []string{"got -1, expected 0 or more"}},
		{Path: "/dependencies(0)", Errors: []string{idSyntaxMessage}},
		{Path: "/groups(0)/id", Errors: []string{"id '/shop/batch' is already used at /apps(2)/id"}},
		{Path: "/groups(1)/apps(0)", Errors: []string{msgNoCmdArgsContainer}},
		{Path: "/groups(1)/id", Errors: []string{"group '/other/g' is not a direct child of '/shop'"}},
	}
	if diff := cmp.Diff(want, ve.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}

	ok, err := DecodeGroup([]byte(`{"id":"/","groups":[{"id":"a","apps":[{"id":"x","cmd":"y"}],"groups":[{"id":"b"}]}]}`), "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateGroup(ok, DefaultOptions()); err != nil {
		t.Errorf("valid tree: %v", err)
	}
}
