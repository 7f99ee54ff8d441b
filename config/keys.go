package config

import (
	"reflect"
	"strings"
	"sync"
)

// knownKeys lists every dotted TOML key and table of Config ("gossip",
// "gossip.key", "service", "service.check.http", ...), read from the
// struct tags so that it never falls behind the fields.
var knownKeys = sync.OnceValue(func() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if f.Anonymous && name == "" {
				walk(prefix, ft) // embedded: its keys belong to this table
				continue
			}
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			keys = append(keys, prefix+name)
			if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
				walk(prefix+name+".", ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
})

// suggest returns ` (did you mean "gossip.key"?)` for an unknown key that
// is one or two edits from a known key of the same table, else "".
func suggest(key string) string {
	table, last := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		table, last = key[:i+1], key[i+1:]
	}
	table = stripIndexes(table)
	best, bestDist := "", 3
	for _, k := range knownKeys() {
		name, ok := strings.CutPrefix(k, table)
		if !ok || strings.Contains(name, ".") {
			continue
		}
		if d := editDistance(strings.ToLower(last), name); d < bestDist && d < len(name) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// stripIndexes turns "service[2].check." into "service.check.".
func stripIndexes(s string) string {
	var b strings.Builder
	skip := false
	for _, r := range s {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
