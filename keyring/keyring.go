package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/internal/atomicfile"
	"github.com/murmurhq/murmur/query"
)

const (
	// FileName is the keyring file in data_dir.
	FileName = "keyring.json"
	// Kind is the keyring's query kind. Wire value: never reuse it.
	Kind query.Kind = 'K'
	// Timeout bounds how long an operation waits for answers.
	Timeout = 5 * time.Second
	// ReplayWindow: a request sent further than this from the local clock
	// is refused; request ids are remembered twice as long.
	ReplayWindow = 2 * time.Minute
	// queue is the depth of the queue of requests from members; a request
	// that finds it full is dropped (its sender reports that this agent
	// did not answer).
	queue = 16
)

// Errors callers branch on.
var (
	// ErrNotEncrypted: the operation needs gossip encryption.
	ErrNotEncrypted = errors.New("keyring: gossip is not encrypted on this agent; start every agent with gossip.key (agentctl keygen) to use a keyring")
	// ErrPrimaryKey: removing the key members encrypt with is refused.
	ErrPrimaryKey = errors.New("keyring: removing the primary key is refused; make another key primary first (agentctl keyring use)")
	// ErrRefused: the change is refused in the cluster's present state
	// (a key not installed here, or still primary on a member).
	ErrRefused = errors.New("keyring: refused")
)

// Cluster is how the keyring reaches the members: the agent's
// query.Queries. Handle is called by New only; Ask concurrently.
type Cluster interface {
	Handle(k query.Kind, h query.Handler, o query.Options)
	Ask(ctx context.Context, k query.Kind, question []byte, timeout time.Duration) (map[string]query.Result, error)
}

// Config configures a Keyring.
type Config struct {
	// Node is this agent's name.
	Node string
	// DataDir holds the keyring file; "" keeps the ring in memory only.
	DataDir string
	// Key is gossip.key (base64; checked by the caller's validation): it
	// seeds the file at the first start.
	Key     string
	Cluster Cluster
	// Logger gets the component attribute "keyring".
	Logger *slog.Logger
}

// Keyring is this agent's gossip keyring and its cluster-wide operations.
// Methods are safe for concurrent use after Open.
type Keyring struct {
	cfg  Config
	log  *slog.Logger
	path string // "" without data_dir
	// ring is memberlist's keyring; nil when gossip is not encrypted. Set
	// by Open before memberlist exists, read-only afterwards.
	ring *memberlist.Keyring

	// mu serialises changes of the ring and its file.
	mu sync.Mutex
}

// New returns the keyring of cfg and registers its query kind; Open loads
// it.
func New(cfg Config) *Keyring {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := &Keyring{cfg: cfg, log: cfg.Logger.With("component", "keyring")}
	if cfg.DataDir != "" {
		k.path = filepath.Join(cfg.DataDir, FileName)
	}
	cfg.Cluster.Handle(Kind, k.answer, query.Options{Reliable: true, Window: ReplayWindow, Admit: k.Encrypted, Queue: queue})
	return k
}

// Load reads the keyring file in dataDir: nil when there is none, an
// error naming the file when it does not decode.
func Load(dataDir string) ([][]byte, error) {
	path := filepath.Join(dataDir, FileName)
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("keyring: file: %w", err)
	}
	keys, err := DecodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("keyring: file %s: %w (fix it, or delete it to start again from gossip.key)", path, err)
	}
	return keys, nil
}

// Open loads the keyring: data_dir/keyring.json when it exists (it wins
// over gossip.key, as Consul's does), else gossip.key, which is then saved
// as the file. It returns nil when gossip is not encrypted.
func (k *Keyring) Open() (*memberlist.Keyring, error) {
	var keys [][]byte
	var cfgKey []byte
	if k.cfg.Key != "" {
		cfgKey, _ = DecodeKey(k.cfg.Key) // checked by the caller
	}
	if k.path != "" {
		var err error
		if keys, err = Load(k.cfg.DataDir); err != nil {
			return nil, err
		}
		if keys != nil && cfgKey != nil && !containsKey(keys, cfgKey) {
			k.log.Warn("gossip.key is not in the keyring file, which takes precedence: the keys were rotated (agentctl keyring); update gossip.key for new agents",
				"file", k.path)
		}
	}
	if keys == nil && cfgKey != nil {
		keys = [][]byte{cfgKey}
		if k.path != "" {
			if err := atomicfile.WriteFile(k.path, EncodeFile(keys), 0o600); err != nil {
				return nil, fmt.Errorf("keyring: saving the keyring: %w", err)
			}
		}
	}
	if keys == nil {
		return nil, nil
	}
	ring, err := newRing(keys)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k.ring = ring
	return ring, nil
}

// newRing returns a memberlist ring of keys, the first primary.
func newRing(keys [][]byte) (*memberlist.Keyring, error) {
	return memberlist.NewKeyring(keys[1:], keys[0])
}

func containsKey(keys [][]byte, k []byte) bool {
	return slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
}

// Encrypted reports whether gossip is encrypted (after Open).
func (k *Keyring) Encrypted() bool { return k.ring != nil }

// Keys returns a copy of the ring, primary first (nil when unencrypted).
func (k *Keyring) Keys() [][]byte {
	if k.ring == nil {
		return nil
	}
	var out [][]byte
	for _, key := range k.ring.GetKeys() {
		out = append(out, bytes.Clone(key))
	}
	return out
}

// answer is the query Handler: it applies a member's request (or this
// agent's own, from Ask) and answers with the keys.
func (k *Keyring) answer(from string, question []byte) ([]byte, error) {
	op, key, err := decodeRequest(question)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", query.ErrMalformed, err)
	}
	keys, err := k.apply(op, key)
	if from != k.cfg.Node {
		lvl := slog.LevelInfo
		if op == OpList {
			lvl = slog.LevelDebug
		}
		k.log.Log(context.Background(), lvl, "keyring operation from a member", "op", op.String(), "origin", from, "ok", err == nil, "err", err)
	}
	if err != nil {
		return nil, err
	}
	return encodeAnswer(keys), nil
}

// apply does op on this agent and returns the keys after it: the file is
// saved first, then memberlist's ring changes, so a failed save changes
// nothing.
func (k *Keyring) apply(op Op, key []byte) ([][]byte, error) {
	if k.ring == nil {
		return nil, ErrNotEncrypted
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.Keys()
	var next [][]byte
	var err error
	switch op {
	case OpInstall:
		switch {
		case containsKey(keys, key):
		case len(keys) >= MaxKeys:
			err = fmt.Errorf("keyring: the keyring holds %d keys, the most it may; remove one first", len(keys))
		default:
			next = append(slices.Clone(keys), key)
		}
	case OpUse:
		switch i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, key) }); {
		case i < 0:
			err = errors.New("keyring: key is not installed on this agent; install it on every member first")
		case i > 0:
			next = append([][]byte{key}, slices.Delete(slices.Clone(keys), i, i+1)...)
		}
	case OpRemove:
		switch {
		case bytes.Equal(keys[0], key):
			err = ErrPrimaryKey
		case containsKey(keys, key):
			next = slices.DeleteFunc(slices.Clone(keys), func(x []byte) bool { return bytes.Equal(x, key) })
		}
	}
	if err == nil && next != nil {
		if k.path != "" {
			if serr := atomicfile.WriteFile(k.path, EncodeFile(next), 0o600); serr != nil {
				err = fmt.Errorf("keyring: saving the keyring (nothing changed): %w", serr)
			}
		}
		if err == nil {
			switch op {
			case OpInstall:
				err = k.ring.AddKey(key)
			case OpUse:
				err = k.ring.UseKey(key)
			case OpRemove:
				err = removeKey(k.ring, key)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return k.Keys(), nil
}

// removeKey removes key from ring, which must not be primary.
// memberlist's RemoveKey deletes with append(keys[:i], keys[i+1:]...),
// which overwrites the array GetKeys handed to packets being decrypted
// when key is not the last one: a data race. Removing the keys after it
// from the tail first (each then last: no write), then key, then adding
// them back (appends past what readers see) avoids it; packets encrypted
// with those keys in that instant fail to decrypt and gossip resends them.
func removeKey(ring *memberlist.Keyring, key []byte) error {
	keys := ring.GetKeys()
	i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, key) })
	if i < 0 {
		return nil
	}
	tail := make([][]byte, 0, len(keys)-i-1)
	for _, t := range keys[i+1:] {
		tail = append(tail, bytes.Clone(t))
	}
	for j := len(tail) - 1; j >= 0; j-- {
		if err := ring.RemoveKey(tail[j]); err != nil {
			return err
		}
	}
	if err := ring.RemoveKey(key); err != nil {
		return err
	}
	for _, t := range tail {
		if err := ring.AddKey(t); err != nil {
			return err
		}
	}
	return nil
}
