package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Rejoin helpers: the peers a restarted agent rejoins, and memberlist's
// join errors made readable.

// PeersFile is the file in the data dir that keeps the addresses of the
// live peers last seen, for a restarted agent to rejoin.
const PeersFile = "peers.json"

// Peers persists the addresses of known live peers. It is used by one
// goroutine at a time.
type Peers struct {
	path string
	last []string
}

// NewPeers keeps the peers in dataDir.
func NewPeers(dataDir string) *Peers { return &Peers{path: filepath.Join(dataDir, PeersFile)} }

// Load reads the saved addresses; a missing file is none.
func (p *Peers) Load() ([]string, error) {
	b, err := os.ReadFile(p.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		return nil, fmt.Errorf("membership: %s: %w", p.path, err)
	}
	return addrs, nil
}

// Save writes addrs atomically (temp file, fsync, rename) when they
// changed since the last save.
func (p *Peers) Save(addrs []string) error {
	if slices.Equal(addrs, p.last) {
		return nil
	}
	b, _ := json.Marshal(addrs)
	tmp := p.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return err
	}
	p.last = addrs
	return nil
}

// JoinError makes memberlist's Join error one line and adds a hint when it
// is about gossip encryption; encrypted says whether this agent has a key.
// The wrapped errors stay reachable with errors.Is and errors.As.
func JoinError(err error, encrypted bool) error {
	return fmt.Errorf("%w%s", flattenErr(err), joinHint(encrypted, err))
}

// flattenErr turns memberlist's multierror ("1 error occurred:\n\t* ...")
// into one line, keeping the wrapped errors for errors.Is.
func flattenErr(err error) error {
	var multi interface{ WrappedErrors() []error }
	if !errors.As(err, &multi) {
		return err
	}
	errs := multi.WrappedErrors()
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return fmt.Errorf("%s%w", strings.Join(parts, "; "), silent{err})
}

// silent wraps an error for errors.Is/As without adding to the message.
type silent struct{ error }

func (silent) Error() string   { return "" }
func (s silent) Unwrap() error { return s.error }

// joinHint explains a join that failed on encryption. memberlist exports
// no sentinel errors for it, so its messages are matched here, in one
// place: the text only adds a hint, nothing branches on it.
func joinHint(encrypted bool, err error) string {
	msg := err.Error()
	if !strings.Contains(msg, "decrypt") && !strings.Contains(msg, "encrypt") {
		return ""
	}
	if encrypted {
		return " (this agent encrypts gossip: check that every agent has the same gossip.key)"
	}
	return " (if the cluster encrypts gossip, set its gossip.key on this agent)"
}

// JoinEach joins addrs one at a time with join (memberlist's Join, which
// drops the errors of the addresses that failed when another one
// answered) and returns how many answered and, when some did not, their
// errors one per address (JoinError keeps them reachable with
// errors.Unwrap; the HTTP API lists them).
func JoinEach(addrs []string, join func([]string) (int, error)) (int, error) {
	var n int
	var failed addrErrors
	for _, addr := range addrs {
		k, err := join([]string{addr})
		n += k
		if err != nil {
			failed = append(failed, perAddr(err)...)
		}
	}
	if len(failed) == 0 {
		return n, nil
	}
	return n, failed
}

// perAddr unpacks memberlist's multierror ("1 error occurred:\n\t* ...")
// into its errors, one per address (each names its address).
func perAddr(err error) []error {
	var multi interface{ WrappedErrors() []error }
	if !errors.As(err, &multi) {
		return []error{err}
	}
	return multi.WrappedErrors()
}

// addrErrors are the per-address errors of one join, printed on one line
// and unwrapped one by one.
type addrErrors []error

func (e addrErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e addrErrors) Unwrap() []error { return e }
