//go:build !linux

package testenv

import "os/exec"

// DieWithTest is a no-op where the kernel offers no parent-death signal:
// children of a test binary killed at its timeout outlive it there.
func DieWithTest(cmd *exec.Cmd) {}
