//go:build unix

package content

import "syscall"

// processCPU is the process's user and system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1e18
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
