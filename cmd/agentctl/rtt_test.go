package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

func TestRTT(t *testing.T) {
	a := newAgent(t)
	a.b.SetRTT("node1", "n2", 1234*time.Microsecond)
	a.b.SetRTT("n2", "n3", 20*time.Millisecond)
	if out := a.run(t, "rtt", "n2").ok(t); out != "estimated rtt from node1 to n2: 1.234 ms\n" {
		t.Errorf("stdout %q", out)
	}
	if out := a.run(t, "rtt", "n2", "n3").ok(t); out != "estimated rtt from n2 to n3: 20.000 ms\n" {
		t.Errorf("stdout %q", out)
	}
	var r client.RTT
	out := a.run(t, "rtt", "-json", "n3", "n2").ok(t)
	if err := json.Unmarshal([]byte(out), &r); err != nil || r != (client.RTT{From: "n3", To: "n2", Seconds: 0.02}) {
		t.Errorf("json %q: %+v %v", out, r, err)
	}
	a.run(t, "rtt", "n9").fails(t, "no coordinate for node1 or n9")
}
