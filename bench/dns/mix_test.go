package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMixFrom(t *testing.T) {
	var e enumeration
	err := json.Unmarshal([]byte(`{"frameworks":[
	  {"name":"marathon","tasks":[
	    {"name":"a0000.g00.dnsbench","id":"t1","records":[
	      {"name":"a0000.g00.dnsbench.marathon.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"a0000-g00-dnsbench.marathon.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"a0000-g00-dnsbench-ugkth-s1.marathon.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"a0000.g00.dnsbench.marathon.slave.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"_a0000-g00-dnsbench._tcp.marathon.mesos.","host":"a0000-g00-dnsbench-ugkth-s1.marathon.mesos.:10000","rtype":"SRV"}]},
	    {"name":"a0000.g00.dnsbench","id":"t2","records":[
	      {"name":"a0000.g00.dnsbench.marathon.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"a0000-g00-dnsbench-zmbpr-s1.marathon.mesos.","host":"127.0.0.1","rtype":"A"},
	      {"name":"_a0000-g00-dnsbench._tcp.marathon.mesos.","host":"a0000-g00-dnsbench-zmbpr-s1.marathon.mesos.:10001","rtype":"SRV"}]}]},
	  {"name":"other","tasks":[{"name":"x","id":"t3","records":[{"name":"x.other.mesos.","host":"127.0.0.1","rtype":"A"}]}]}]}`), &e)
	if err != nil {
		t.Fatal(err)
	}
	got := mixFrom(e, 25)
	want := queryMix{
		appA:   []string{"a0000.g00.dnsbench.marathon.mesos"},
		appSRV: []string{"_a0000-g00-dnsbench._tcp.marathon.mesos"},
		taskA:  []string{"a0000-g00-dnsbench-ugkth-s1.marathon.mesos", "a0000-g00-dnsbench-zmbpr-s1.marathon.mesos"},
		nx:     []string{"nx00000.dnsbench.marathon.mesos"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(queryMix{})); diff != "" {
		t.Errorf("mix (-want +got):\n%s", diff)
	}
	lines := strings.Split(strings.TrimSpace(string(got.dataFile())), "\n")
	if len(lines) != 5 || !strings.Contains(string(got.dataFile()), "_a0000-g00-dnsbench._tcp.marathon.mesos SRV\n") {
		t.Errorf("data file:\n%s", got.dataFile())
	}
}
