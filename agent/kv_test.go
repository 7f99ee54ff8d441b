package agent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/memnet"
)

func TestKVReplicatesInMemory(t *testing.T) {
	c := newMemCluster(t, 5, 11)
	ctx := context.Background()
	if _, err := c.agents[0].Store().Put(ctx, "app/color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB: never fits a packet
	if _, err := c.agents[3].Store().Put(ctx, "app/blob", big, 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.agents {
		waitFor(t, patience, "replication to "+a.Name(), func() bool {
			r1, err1 := a.Store().Get("app/color")
			r2, err2 := a.Store().Get("app/blob")
			return err1 == nil && string(r1.Value) == "blue" && err2 == nil && bytes.Equal(r2.Value, big)
		})
	}
	// A node that was away catches up through anti-entropy.
	c.net.Isolate("n5")
	allSee(t, c.agents[:4], "n5", StatusFailed, patience)
	for i := 0; i < 20; i++ {
		if _, err := c.agents[i%4].Store().Put(ctx, fmt.Sprintf("away/%d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	c.net.Unisolate("n5")
	waitFor(t, patience, "n5 to catch up", func() bool { return len(c.agents[4].Store().Keys("away/")) == 20 })
}

func TestServicesInCatalog(t *testing.T) {
	c := newMemCluster(t, 3, 12)
	a, b := c.agents[0], c.agents[1]
	if err := httpapi.CatalogServices(b.Catalog).Register(client.ServiceDefinition{Name: "web", ID: "web-1", Port: 8080, Tags: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	ttl := client.ServiceDefinition{Name: "web", ID: "web-2", Port: 8081, Check: &client.CheckDefinition{TTL: client.Duration(time.Minute)}}
	if err := httpapi.CatalogServices(b.Catalog).Register(ttl); err != nil {
		t.Fatal(err)
	}
	passing := func(ag *Agent) int {
		in, _ := httpapi.CatalogServices(ag.Catalog).Service("web", true)
		return len(in)
	}
	waitFor(t, patience, "web-1 in a's catalog", func() bool {
		in, err := httpapi.CatalogServices(a.Catalog).Service("web", false)
		return err == nil && len(in) == 2 && passing(a) == 1
	})
	if err := httpapi.CatalogServices(b.Catalog).UpdateTTL("web-2", client.HealthPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "web-2 passing on a", func() bool { return passing(a) == 2 })
	if s := httpapi.CatalogServices(a.Catalog).Services(); len(s) != 1 || s[0].Instances != 2 || s[0].Passing != 2 || strings.Join(s[0].Tags, ",") != "v1" {
		t.Fatalf("summary = %+v", s)
	}

	c.net.Isolate("n2")
	allSee(t, []*Agent{a}, "n2", StatusFailed, patience)
	waitFor(t, patience, "failed node's instances to leave passing", func() bool { return passing(a) == 0 })
	c.net.Unisolate("n2")
	waitFor(t, patience, "instances back", func() bool { return passing(a) == 2 })

	if err := httpapi.CatalogServices(b.Catalog).Deregister("web-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "deregistration", func() bool {
		return len(a.Catalog().Snapshot().Service("web")) == 1
	})
	if err := httpapi.CatalogServices(b.Catalog).Deregister("nope"); err == nil {
		t.Fatal("deregistering an unknown id succeeded")
	}
}

func TestOwnerReassertsServices(t *testing.T) {
	c := newMemCluster(t, 2, 13)
	a, b := c.agents[0], c.agents[1]
	if err := b.Catalog().Register(catalog.Definition{Name: "db", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "db on a", func() bool { return a.Catalog().Snapshot().Service("db") != nil })
	// Another agent deleting b's namespace (as a reap does) is undone by b.
	if _, err := a.Store().DeletePrefix(context.Background(), catalog.Prefix+"n2/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "db re-asserted", func() bool {
		r, err := a.Store().Get(catalog.Key("n2", "db"))
		return err == nil && r.Version.Node == "n2"
	})
}

// TestProbeRepairsMissedUpdate: with gossip and forwarding lost and
// push/pull an hour apart, the periodic probe still delivers an update.
func TestProbeRepairsMissedUpdate(t *testing.T) {
	nw := memnet.New(21)
	var as []*Agent
	for _, name := range []string{"q1", "q2"} {
		tr, _ := nw.NewTransport(name)
		cfg := testConfig(name)
		hour := client.Duration(time.Hour)
		cfg.Gossip.PushPullInterval = &hour
		cfg.KV.SyncInterval = client.Duration(200 * time.Millisecond)
		as = append(as, startAgent(t, cfg, WithTransport(tr)))
	}
	joinAll(t, as)
	// Drop every UDP packet from q1 to q2 for the write: the forward and
	// every gossip retransmission are lost.
	if err := nw.SetLoss("q1", "q2", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := as[0].Store().Put(context.Background(), "missed", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "q1's gossip queue to drain", func() bool { l, _ := as[0].del.q.Len(); return l == 0 })
	if err := nw.SetLoss("q1", "q2", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "the probe to repair q2", func() bool {
		r, err := as[1].Store().Get("missed")
		return err == nil && string(r.Value) == "v"
	})
}
