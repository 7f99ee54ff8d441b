package catalog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ServicesFile is the name of the file in the data dir that keeps the
// services registered through an API, so they survive a restart.
// Services from the config file are not in it.
const ServicesFile = "services.json"

// servicesFile saves the API-registered services. Saves are serialized
// and atomic (a unique temporary file, fsync, rename, fsync of the
// directory), and grouped: a caller waits for a save that includes its
// change, and while one save runs the changes made meanwhile queue up for
// the next one, so N concurrent registrations cost about two saves, not N.
type servicesFile struct {
	path string
	// state returns the definitions to save and the generation they are;
	// it is the registry's, read under the registry's lock.
	state func() (gen uint64, defs []Definition)

	mu sync.Mutex
	// saved is the generation on disk; guarded by mu, which is held for
	// the whole write so saves never interleave.
	saved uint64
}

// sync returns once the file holds generation want or a later one.
func (f *servicesFile) sync(want uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved >= want {
		return nil // a save that started after our change covered it
	}
	gen, defs := f.state()
	b, err := json.MarshalIndent(toFile(defs), "", "  ")
	if err != nil {
		return fmt.Errorf("catalog: save %s: %w", f.path, err)
	}
	if err := writeAtomic(f.path, b); err != nil {
		return fmt.Errorf("catalog: save %s: %w", f.path, err)
	}
	f.saved = gen
	return nil
}

// writeAtomic replaces path with b so that a crash leaves the old or the
// new content, never a mix or nothing.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// load reads the saved definitions; a missing file is none.
func (f *servicesFile) load() ([]Definition, error) {
	b, err := os.ReadFile(f.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	var defs []fileDef
	if err := json.Unmarshal(b, &defs); err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", f.path, err)
	}
	return fromFile(defs), nil
}

// fileDef is the file's format, the HTTP API's ServiceDefinition JSON
// (durations as "10s"), so files written by older agents still load.
type fileDef struct {
	ID      string            `json:"id,omitempty"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Check   *fileCheck        `json:"check,omitempty"`
}

type fileCheck struct {
	TCP                    string       `json:"tcp,omitempty"`
	HTTP                   string       `json:"http,omitempty"`
	TTL                    fileDuration `json:"ttl,omitempty"`
	Interval               fileDuration `json:"interval,omitempty"`
	Timeout                fileDuration `json:"timeout,omitempty"`
	SuccessBeforePassing   int          `json:"success_before_passing,omitempty"`
	FailuresBeforeCritical int          `json:"failures_before_critical,omitempty"`
}

// fileDuration reads and writes "10s".
type fileDuration time.Duration

func (d fileDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *fileDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = fileDuration(v)
	return err
}

func toFile(defs []Definition) []fileDef {
	out := make([]fileDef, len(defs))
	for i, d := range defs {
		out[i] = fileDef{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port, Tags: d.Tags, Meta: d.Meta}
		if c := d.Check; c != nil {
			out[i].Check = &fileCheck{TCP: c.TCP, HTTP: c.HTTP, TTL: fileDuration(c.TTL),
				Interval: fileDuration(c.Interval), Timeout: fileDuration(c.Timeout),
				SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
		}
	}
	return out
}

func fromFile(defs []fileDef) []Definition {
	out := make([]Definition, len(defs))
	for i, d := range defs {
		out[i] = Definition{ID: d.ID, Name: d.Name, Address: d.Address, Port: d.Port, Tags: d.Tags, Meta: d.Meta}
		if c := d.Check; c != nil {
			out[i].Check = &Check{TCP: c.TCP, HTTP: c.HTTP, TTL: time.Duration(c.TTL),
				Interval: time.Duration(c.Interval), Timeout: time.Duration(c.Timeout),
				SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeCritical: c.FailuresBeforeCritical}
		}
	}
	return out
}
