package testutil

import "syscall"

// ProcessCPU is this process's user and system CPU time in nanoseconds
// (0, 0 if getrusage fails): benchmarks report CPU per operation, which a
// shared machine disturbs less than wall time.
func ProcessCPU() (user, sys int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Utime.Nano(), ru.Stime.Nano()
}
