//go:build linux

package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetnsLab checks the lab itself: sockets made through inNetns live in
// the agent's namespace and no thread of the test stays switched, stale
// labs are swept while live ones are kept, and destroy leaves nothing.
func TestNetnsLab(t *testing.T) {
	l := newNetlab(t, 2)
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sockets stay in their namespace", func(t *testing.T) {
		var ln net.Listener
		if err := inNetns(l.ns(1), func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := nsDial(ctx, l.ns(1), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial inside %s: %v", l.ns(1), err)
		}
		c.Close()
		if c, err := nsDial(ctx, l.ns(2), "tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatalf("%s reached a listener on 127.0.0.1 of %s", l.ns(2), l.ns(1))
		}
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, task := range tasks {
			if ns, err := os.Readlink(task); err == nil && ns != self {
				t.Errorf("thread %s left in %s, test runs in %s", task, ns, self)
			}
		}
	})

	t.Run("sweep removes only labs of dead processes", func(t *testing.T) {
		stale := "mm99999999-1n1" // no such pid: above any pid_max
		live := fmt.Sprintf("mm%d-keep", os.Getpid())
		for _, ns := range []string{stale, live} {
			if out, err := run("ip", "netns", "add", ns); err != nil {
				t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
			}
		}
		defer deleteNetns(live)
		sweepStaleLabs()
		list, _ := run("ip", "netns", "list")
		if strings.Contains(list, stale) || !strings.Contains(list, live) {
			t.Errorf("after the sweep:\n%s", list)
		}
	})

	t.Run("destroy leaves nothing", func(t *testing.T) {
		l.destroy()
		list, _ := run("ip", "netns", "list")
		if strings.Contains(list, l.prefix) {
			t.Errorf("namespaces of %s left:\n%s", l.prefix, list)
		}
	})
}
