package configsync

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors callers branch on with errors.Is. The errors returned
// carry a more precise text (naming the limit or the field) and wrap one of
// these.
var (
	// ErrInvalidKey: the key is empty, not valid UTF-8 or contains a
	// control character (the HTTP layer answers 400).
	ErrInvalidKey = errors.New("configsync: invalid key")
	// ErrKeyTooLarge: the key is longer than kv.max_key_bytes (400).
	ErrKeyTooLarge = errors.New("configsync: key too large")
	// ErrValueTooLarge: the value is longer than kv.max_value_bytes (413).
	ErrValueTooLarge = errors.New("configsync: value too large")
	// ErrNotFound: the key is absent or deleted (404).
	ErrNotFound = errors.New("configsync: key not found")
	// ErrMalformed: a wire message is truncated, oversized or otherwise
	// invalid. It is dropped; nothing of it is applied.
	ErrMalformed = errors.New("configsync: malformed message")
	// ErrCorrupt: the database file cannot be read back, or a record or
	// page fails its checks (Open fails; the error names the file).
	ErrCorrupt = errors.New("configsync: corrupt database")
	// ErrMissing: the database is missing or empty in a data dir that held
	// one (see MarkerFile); Open fails rather than start empty.
	ErrMissing = errors.New("configsync: store missing")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("configsync: store closed")
	// ErrClockOffset: this agent's clock is more than kv.max_clock_skew
	// away from its peers' (Config.ClockOffset); local writes are refused
	// until it is fixed (the HTTP layer answers 503).
	ErrClockOffset = errors.New("configsync: clock offset beyond kv.max_clock_skew")
)

// detailError has a precise text and unwraps to a sentinel.
type detailError struct {
	sentinel error
	msg      string
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &detailError{sentinel: sentinel, msg: "configsync: " + fmt.Sprintf(format, args...)}
}

// Hard caps, independent of the configured Limits: they bound what a wire
// message may carry so that every agent accepts what any correctly
// configured agent writes.
const (
	// MaxKeyBytesCap is the largest allowed Limits.MaxKeyBytes.
	MaxKeyBytesCap = 16 << 10 // bbolt keys stop at 32 KiB
	// MaxValueBytesCap is the largest allowed Limits.MaxValueBytes.
	MaxValueBytesCap = 8 << 20
	// MaxNodeBytes bounds a node name.
	MaxNodeBytes = 256
	// MaxMessageBytes bounds one encoded message (memberlist's reliable
	// user messages stop at 20 MiB).
	MaxMessageBytes = 16 << 20
)

// Limits bound what a local write may store. Remote entries are checked
// against the wire caps only, so agents configured with different limits
// still converge.
type Limits struct {
	// MaxKeyBytes is kv.max_key_bytes: the longest key in bytes (default
	// 512, at most MaxKeyBytesCap).
	MaxKeyBytes int
	// MaxValueBytes is kv.max_value_bytes: the longest value in bytes
	// (default 512 KiB, at most MaxValueBytesCap).
	MaxValueBytes int
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: 512, MaxValueBytes: 512 << 10}
}

// Validate reports a limit outside its allowed range.
func (l Limits) Validate() error {
	if l.MaxKeyBytes < 1 || l.MaxKeyBytes > MaxKeyBytesCap {
		return fmt.Errorf("configsync: kv.max_key_bytes is %d, must be in [1, %d]", l.MaxKeyBytes, MaxKeyBytesCap)
	}
	if l.MaxValueBytes < 0 || l.MaxValueBytes > MaxValueBytesCap {
		return fmt.Errorf("configsync: kv.max_value_bytes is %d, must be in [0, %d]", l.MaxValueBytes, MaxValueBytesCap)
	}
	return nil
}

// CheckKey validates a key for a local write: non-empty, valid UTF-8, no
// control characters, at most MaxKeyBytes.
func (l Limits) CheckKey(key string) error {
	if err := checkKeyForm(key); err != nil {
		return err
	}
	if len(key) > l.MaxKeyBytes {
		return errorf(ErrKeyTooLarge, "key is %d bytes, limit kv.max_key_bytes is %d", len(key), l.MaxKeyBytes)
	}
	return nil
}

// CheckValue validates a value for a local write.
func (l Limits) CheckValue(value []byte) error {
	if len(value) > l.MaxValueBytes {
		return errorf(ErrValueTooLarge, "value is %d bytes, limit kv.max_value_bytes is %d", len(value), l.MaxValueBytes)
	}
	return nil
}

// checkKeyForm is the part of key validation every agent agrees on,
// whatever its limits; wire decoding applies it too.
func checkKeyForm(key string) error {
	if key == "" {
		return errorf(ErrInvalidKey, "key is empty")
	}
	for i, r := range key {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(key[i:]); size <= 1 {
				return errorf(ErrInvalidKey, "key is not valid UTF-8 (byte %d)", i)
			}
		}
		if unicode.IsControl(r) {
			return errorf(ErrInvalidKey, "key contains control character %U at byte %d", r, i)
		}
	}
	return nil
}

// checkNode validates a node name (configuration and wire).
func checkNode(node string) error {
	if node == "" {
		return errors.New("configsync: node name is empty")
	}
	if len(node) > MaxNodeBytes {
		return fmt.Errorf("configsync: node name is %d bytes, limit is %d", len(node), MaxNodeBytes)
	}
	if !utf8.ValidString(node) {
		return errors.New("configsync: node name is not valid UTF-8")
	}
	return nil
}
