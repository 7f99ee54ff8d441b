//go:build unix

package watch

import (
	"os/exec"
	"syscall"
)

// setProcessGroup runs the handler in its own process group and makes a
// cancel kill the whole group, so a shell handler's children die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
