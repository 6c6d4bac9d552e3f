package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// librdkafka's own benchmark client, rdkafka_performance, built at test
// time from the example source Debian's librdkafka-dev ships (installed by
// .ci/install-test-deps). The example is written to build inside
// librdkafka's source tree: it includes two internal headers, rd.h and
// rdtime.h, for a handful of helpers (a microsecond clock, rd_snprintf,
// RD_MIN/RD_MAX). The shim below declares those few things, so the
// example builds against the installed library unchanged.

// rdkafkaPerfSource is where librdkafka-dev puts the example.
const rdkafkaPerfSource = "/usr/share/doc/librdkafka-dev/examples/rdkafka_performance.c"

// rdkafkaPerfShim stands in for librdkafka's internal rd.h (and rdtime.h,
// which is left empty): only what rdkafka_performance.c uses.
const rdkafkaPerfShim = `#ifndef RUNNEL_RD_SHIM_H
#define RUNNEL_RD_SHIM_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
typedef int64_t rd_ts_t;
/* Microseconds on a monotonic clock, as librdkafka's rd_clock(). */
static inline rd_ts_t rd_clock(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (rd_ts_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#define rd_snprintf snprintf
#define RD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RD_MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
`

// buildRdkafkaPerformance compiles rdkafka_performance with gcc into a
// temporary directory and returns the binary's path. It skips the test
// when the source, gcc or the library is missing — except under CI, where
// a missing install step must fail rather than pass by skipping.
func buildRdkafkaPerformance(t testing.TB) string {
	t.Helper()
	missing := ""
	if _, err := os.Stat(rdkafkaPerfSource); err != nil {
		missing = "no " + rdkafkaPerfSource + " (apt-get install librdkafka-dev)"
	} else if _, err := exec.LookPath("gcc"); err != nil {
		missing = "no gcc on PATH"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rdkafka_performance cannot be built: %s", missing)
		}
		t.Skipf("skipping: rdkafka_performance cannot be built: %s", missing)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(rdkafkaPerfSource)
	if err != nil {
		t.Fatal(err)
	}
	// The example includes "../src/rd.h", "rd.h", "rdtime.h" and
	// "rdkafka.h"; with the source in examples/ and -I src, all four
	// resolve to the files written here.
	files := map[string]string{
		"examples/rdkafka_performance.c": string(src),
		"src/rd.h":                       rdkafkaPerfShim,
		"src/rdtime.h":                   "/* empty: rd.h has rd_clock */\n",
		"src/rdkafka.h":                  "#include <librdkafka/rdkafka.h>\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "rdkafka_performance")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gcc", "-O2", "-w", "-I", filepath.Join(dir, "src"),
		"-o", bin, filepath.Join(dir, "examples", "rdkafka_performance.c"), "-lrdkafka")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building rdkafka_performance: %v\n%s", err, out)
	}
	return bin
}

// TestBuildRdkafkaPerformance checks that the example builds and runs (it
// prints its usage, with librdkafka's version, for an unknown option); it
// takes a second or two, so it runs in the default suite.
func TestBuildRdkafkaPerformance(t *testing.T) {
	bin := buildRdkafkaPerformance(t)
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if !regexp.MustCompile(`librdkafka version \d+\.\d+`).Match(out) {
		t.Fatalf("rdkafka_performance -h printed no librdkafka version:\n%s", out)
	}
}
