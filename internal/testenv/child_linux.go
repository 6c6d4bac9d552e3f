package testenv

import (
	"os/exec"
	"syscall"
)

// DieWithTest makes the kernel kill cmd's process when the test process
// dies. A test binary that go test kills at its timeout runs no cleanup, so
// without this the servers it started (etcd, runnel, Kafka's JVMs) live on,
// holding ports, disk and CPU that later runs need. Call it before
// cmd.Start.
//
// Linux delivers the signal when the thread that started the child exits;
// Go's runtime keeps its threads for the life of the process (no test
// locks a goroutine to its thread and lets it end), so in practice that is
// the death of the test process.
func DieWithTest(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
