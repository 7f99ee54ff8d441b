package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// maxOutput bounds the handler output kept for the log.
const maxOutput = 4 << 10

// ErrTimeout marks a handler killed after its timeout.
var ErrTimeout = errors.New("watch: handler timed out")

// tail keeps the last maxOutput bytes written to it.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - maxOutput; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// run runs argv with stdin as its standard input and env added to the
// environment, kills its process group after timeout (or when ctx ends),
// and returns the tail of its combined output.
func run(ctx context.Context, argv []string, stdin []byte, env []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out tail
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Env = append(os.Environ(), env...)
	setProcessGroup(cmd)
	// A handler that leaves a child holding its output open must not hold
	// up the watch once it has been killed.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %v", ErrTimeout, timeout)
	} else if err != nil {
		err = fmt.Errorf("watch: handler %s: %w", argv[0], err)
	}
	return out.buf, err
}
