package agent

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"

	"github.com/BurntSushi/toml"
)

// ReloadResult says which changed configuration keys took effect and which
// need a restart.
type ReloadResult struct {
	Reloaded    []string
	NotReloaded []string
}

// reloadable lists the keys Reload applies at runtime. A later key set
// (services, checks, dns.*) is added by the parts that can apply it.
var reloadable = map[string]bool{
	"log.level": true, // applied by the caller, which owns the log handler
	"log.json":  false,
}

// Reload applies the parts of cfg that can change at runtime and reports
// every changed key (dotted TOML name) as reloaded or not.
func (a *Agent) Reload(cfg Config) ReloadResult {
	var res ReloadResult
	for _, key := range changedKeys(a.cfg, cfg) {
		if reloadable[key] || a.applyReload(key, cfg) {
			res.Reloaded = append(res.Reloaded, key)
		} else {
			res.NotReloaded = append(res.NotReloaded, key)
		}
	}
	return res
}

// applyReload applies one changed key; it reports whether it could.
func (a *Agent) applyReload(key string, cfg Config) bool {
	_ = cfg
	_ = key
	return false
}

// changedKeys compares two configs through their TOML form and returns the
// dotted keys whose values differ, sorted.
func changedKeys(old, new Config) []string {
	o, n := flatten(old), flatten(new)
	var keys []string
	for k, v := range n {
		if !reflect.DeepEqual(o[k], v) {
			keys = append(keys, k)
		}
	}
	for k := range o {
		if _, ok := n[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func flatten(c Config) map[string]any {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return map[string]any{"<unencodable>": err.Error()}
	}
	var m map[string]any
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return map[string]any{"<undecodable>": err.Error()}
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if sub, ok := v.(map[string]any); ok {
			for k, x := range sub {
				walk(prefix+k+".", x)
			}
			return
		}
		out[prefix[:len(prefix)-1]] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}
