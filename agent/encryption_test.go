package agent

import (
	"context"
	"strings"
	"testing"
)

func TestGossipEncryption(t *testing.T) {
	const key1 = "MTIzNDU2Nzg5MDEyMzQ1Ng=="                     // 16 bytes
	const key2 = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=" // 32 bytes
	withKey := func(name, key string) Config {
		c := testConfig(name)
		c.Gossip.Key = key
		return c
	}
	a := startAgent(t, withKey("a", key1))
	b := startAgent(t, withKey("b", key1))
	joinAll(t, []*Agent{a, b})

	for _, tc := range []struct{ name, key, hint string }{
		{"wrong-key", key2, "same gossip.key"},
		{"no-key", "", "set its gossip.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startAgent(t, withKey(tc.name, tc.key))
			ctx, cancel := context.WithTimeout(context.Background(), patience) // the join fails at once; only a hang nears this
			defer cancel()
			n, err := c.Join(ctx, []string{addr(a)})
			if err == nil || n != 0 {
				t.Fatalf("join with %s succeeded (n=%d)", tc.name, n)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("join error %q lacks the hint %q", err, tc.hint)
			}
			t.Logf("join error: %v", err)
			if _, ok := a.Member(tc.name); ok {
				t.Errorf("encrypted cluster admitted %s", tc.name)
			}
		})
	}
}
