package lab

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteLabStatus(t *testing.T) {
	r := Report{Name: "x", Routing: "bgp", Datastore: ProcReport{PID: 10, Alive: true},
		Controller: ProcReport{PID: 11, Alive: false},
		Nodes:      []NodeReport{{Name: "node1", Namespace: "trl-x-node1", Address: "10.99.0.11/24", AgentPID: 12, AgentAlive: true, AgentReady: true}},
		Pods:       []PodReport{{Namespace: "default", Name: "web", Node: "node1", IP: "10.244.0.1", Phase: "Running", Ready: true}}}
	var b bytes.Buffer
	WriteStatus(&b, r)
	for _, want := range []string{"lab x (routing bgp)", "controller: pid 11, alive no, restarts 0", "supervisor: not running", "trl-x-node1", "10.99.0.11/24",
		"default    web  node1  10.244.0.1  Running  yes    0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
