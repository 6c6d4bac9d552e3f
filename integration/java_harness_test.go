package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Apache Kafka's own Java software against Runnel: the jars of one pinned
// Kafka release and a small driver (integration/java), built into
// integration/java/lib by `make java-deps`. Each call is one JVM; the
// driver prints one JSON object per line, Kafka's tools print what they
// print for a person.

// javaLibDir is where `make java-deps` puts the jars, relative to this
// package's directory (go test's working directory).
const javaLibDir = "java/lib"

// javaClasspath returns the classpath of Kafka's jars and the driver, or
// skips the test when they are missing — except under CI, where a missing
// install step must fail rather than pass by skipping.
func javaClasspath(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(javaLibDir)
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("java"); err != nil {
		missing = "no java on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "runnel-javadriver.jar")); err != nil {
		missing = "no " + filepath.Join(dir, "runnel-javadriver.jar") + " (run `make java-deps`)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Kafka's Java software is not installed: %s", missing)
		}
		t.Skipf("skipping: Kafka's Java software is not installed: %s", missing)
	}
	return filepath.Join(dir, "*")
}

// javaCommand builds `java -cp lib/* mainClass args...` as Kafka's
// kafka-run-class.sh would, with JVM flags that shorten start-up (these
// JVMs live for seconds) and slf4j logging at warn on stderr.
func javaCommand(ctx context.Context, t *testing.T, mainClass string, args ...string) *exec.Cmd {
	t.Helper()
	var cds []string
	if archive := classDataArchive(mainClass); fileExists(archive) {
		cds = []string{"-XX:SharedArchiveFile=" + archive}
	}
	return javaCommandWith(ctx, t, cds, mainClass, args...)
}

func javaCommandWith(ctx context.Context, t *testing.T, cds []string, mainClass string, args ...string) *exec.Cmd {
	t.Helper()
	cp := javaClasspath(t)
	jargs := []string{
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss1m",
		// CDS notes (classes it cannot archive) would go to stdout, which
		// the tests read.
		"-Xlog:cds*=off",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.logFile=System.err",
	}
	jargs = append(append(jargs, cds...), "-cp", cp, mainClass)
	return exec.CommandContext(ctx, "java", append(jargs, args...)...)
}

// Class-data sharing: a JVM of a Kafka tool spends most of its seconds
// loading and verifying classes (kafka-configs ~4.7 s → ~1.7 s with an
// archive, kafka-topics ~2 s → ~1 s, on this 2-core machine under load).
// The first run of each main class to complete writes an archive of the
// classes it loaded (-XX:ArchiveClassesAtExit) and later JVMs of that class
// map it. Archives live beside the runnel binary in TestMain's directory,
// so they never outlive the test process nor meet another classpath; a
// JVM that cannot use one (-Xshare:auto, the default) runs without it.

// classDataArchive is where the archive of mainClass's classes goes.
func classDataArchive(mainClass string) string {
	return filepath.Join(filepath.Dir(runnelBinary), "cds", mainClass+".jsa")
}

// claimClassDataDump returns the flags that make this run write mainClass's
// archive, and a function to call once the run ended (ok: it exited 0) that
// publishes the archive or gives the claim up for a later run. It returns
// no flags when an archive exists or another run is writing it.
func claimClassDataDump(mainClass string) (flags []string, done func(ok bool)) {
	archive := classDataArchive(mainClass)
	nothing := func(bool) {}
	if fileExists(archive) {
		return []string{"-XX:SharedArchiveFile=" + archive}, nothing
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return nil, nothing
	}
	claim, err := os.OpenFile(archive+".claim", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nothing // another run is writing it
	}
	claim.Close()
	tmp := archive + ".tmp"
	return []string{"-XX:ArchiveClassesAtExit=" + tmp}, func(ok bool) {
		if ok && fileExists(tmp) && os.Rename(tmp, archive) == nil {
			return
		}
		os.Remove(tmp)
		os.Remove(archive + ".claim")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// javaResult is what one JVM printed and how it ended.
type javaResult struct {
	stdout, stderr string
	exitCode       int
}

// runJava runs a main class to completion with stdin, failing the test if
// it does not end within timeout.
func runJava(t *testing.T, timeout time.Duration, stdin string, mainClass string, args ...string) javaResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cds, dumped := claimClassDataDump(mainClass)
	cmd := javaCommandWith(ctx, t, cds, mainClass, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	dumped(err == nil)
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not end within %v\nstdout:\n%s\nstderr:\n%s", mainClass, args, timeout,
			tail(stdout.String(), 40), tail(stderr.String(), 60))
	}
	res := javaResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", mainClass, err)
	}
	return res
}

// kafkaTool runs one of Kafka's command-line tools by its main class with
// the arguments a user types after the script's name, and fails the test
// unless it exits 0. It returns the tool's stdout.
func kafkaTool(t *testing.T, stdin string, mainClass string, args ...string) string {
	t.Helper()
	res := runJava(t, 90*time.Second, stdin, mainClass, args...)
	if res.exitCode != 0 {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", mainClass, strings.Join(args, " "), res.exitCode,
			tail(res.stdout, 40), tail(res.stderr, 60))
	}
	return res.stdout
}

// javaEvent is one line the driver printed.
type javaEvent map[string]any

func (e javaEvent) str(k string) string {
	s, _ := e[k].(string)
	return s
}

func (e javaEvent) num(k string) int64 {
	f, _ := e[k].(float64)
	return int64(f)
}

func (e javaEvent) strs(k string) []string {
	var out []string
	l, _ := e[k].([]any)
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func parseJavaEvents(t *testing.T, out string) []javaEvent {
	t.Helper()
	var evs []javaEvent
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e javaEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("driver printed a line that is not JSON: %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

const javaDriverClass = "runnel.javadriver.Main"

// javaDriver runs the driver's mode to completion and returns its events;
// the test fails if it exits non-zero.
func javaDriver(t *testing.T, timeout time.Duration, mode string, args ...string) []javaEvent {
	t.Helper()
	res := runJava(t, timeout, "", javaDriverClass, append([]string{mode}, args...)...)
	if res.exitCode != 0 {
		t.Fatalf("driver %s %v: exit %d\nstdout:\n%s\nstderr:\n%s", mode, args, res.exitCode,
			tail(res.stdout, 40), tail(res.stderr, 60))
	}
	return parseJavaEvents(t, res.stdout)
}

// javaProc is a driver left running (a group member): its events arrive
// as it prints them, and closing its stdin asks it to commit and leave.
type javaProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr lockedBuffer
	mu     sync.Mutex
	events []javaEvent
	cond   *sync.Cond
	done   chan struct{}
	cancel context.CancelFunc
}

func startJavaDriver(t *testing.T, mode string, args ...string) *javaProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	p := &javaProc{t: t, cancel: cancel, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd = javaCommand(ctx, t, javaDriverClass, append([]string{mode}, args...)...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e javaEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		p.cmd.Wait()
		close(p.done)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			cancel()
			<-p.done
		}
		cancel()
	})
	return p
}

// waitFor blocks until cond holds over the events so far, failing the
// test if the process ends first or after timeout.
func (p *javaProc) waitFor(what string, timeout time.Duration, cond func([]javaEvent) bool) {
	p.t.Helper()
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	for !cond(p.events) {
		select {
		case <-p.done:
			p.t.Fatalf("driver ended while waiting for %s\nevents: %v\nstderr:\n%s", what, p.events, tail(p.stderr.String(), 60))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("driver: no %s within %v\nevents: %v\nstderr:\n%s", what, timeout, tail(fmtEvents(p.events), 30), tail(p.stderr.String(), 60))
		}
		p.cond.Wait()
	}
}

// snapshot returns a copy of the events so far.
func (p *javaProc) snapshot() []javaEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]javaEvent(nil), p.events...)
}

// stop closes stdin (the driver commits and leaves its group) and waits
// for it to exit 0.
func (p *javaProc) stop() []javaEvent {
	p.t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cancel()
		<-p.done
		p.t.Fatalf("driver did not stop within 60s of closing its stdin\nstderr:\n%s", tail(p.stderr.String(), 60))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("driver exited %d\nstderr:\n%s", code, tail(p.stderr.String(), 60))
	}
	return p.snapshot()
}

func fmtEvents(evs []javaEvent) string {
	var sb strings.Builder
	for _, e := range evs {
		b, _ := json.Marshal(e)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// waitJava polls cond (which may read several drivers' snapshots) until
// it holds, failing the test after timeout or if a driver ends first.
func waitJava(t *testing.T, what string, timeout time.Duration, cond func() bool, procs ...*javaProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		for i, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("driver %d ended while waiting for %s\nstderr:\n%s", i+1, what, tail(p.stderr.String(), 60))
			default:
			}
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			for i, p := range procs {
				fmt.Fprintf(&sb, "driver %d events:\n%s\n", i+1, tail(fmtEvents(p.snapshot()), 20))
			}
			t.Fatalf("no %s within %v\n%s", what, timeout, sb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lockedBuffer is stderr of a running JVM, read by the test while the
// process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
