//go:build !unix

package watch

import "os/exec"

// setProcessGroup: without process groups only the handler itself is
// killed on timeout.
func setProcessGroup(*exec.Cmd) {}
