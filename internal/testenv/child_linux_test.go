package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// TestDieWithTestKillsOrphans: a test process that dies without cleanup
// (as go test kills one at its timeout) takes the server it started with
// it. The dying "test process" is this binary re-run in a helper mode: it
// starts a long sleep with DieWithTest, prints the sleep's pid and exits.
func TestDieWithTestKillsOrphans(t *testing.T) {
	if os.Getenv("TESTENV_ORPHAN_PARENT") == "1" {
		child := exec.Command("sleep", "600")
		DieWithTest(child)
		if err := child.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(2)
		}
		fmt.Println(child.Process.Pid)
		os.Exit(0) // no Wait, no Kill: the child would be orphaned
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestDieWithTestKillsOrphans$")
	parent.Env = append(os.Environ(), "TESTENV_ORPHAN_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("the parent printed no pid")
	}
	pid, err := strconv.Atoi(sc.Text())
	if err != nil {
		t.Fatalf("parent: %s", sc.Text())
	}
	parent.Wait()
	// The orphan is reparented to init (or a subreaper), which reaps it
	// once it is killed; until then it is alive.
	Eventually(t, "the orphaned sleep to be killed", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}
