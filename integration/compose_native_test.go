package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	yaml "go.yaml.in/yaml/v2"
)

// composeProc is one compose service run as a local process.
type composeProc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *composeProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *composeProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *composeProc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// TestComposeTopologyNative runs docker-compose.yml's cluster profile
// without Docker, where none is available: each service's own command and
// environment, with the service names and container ports mapped to
// 127.0.0.1 and free ports, run from the runnel binary the image holds.
// The three `runnel etcd` members form a cluster, the three brokers start
// on it, every service's health check command passes, and then
// scripts/compose-check.sh's scenario runs with the CLI: 2000 records
// acknowledged with acks=all, broker2 killed, 2000 more acknowledged, and
// all 4000 read back.
func TestComposeTopologyNative(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	// Every container port of the cluster gets a local one; service names
	// and 0.0.0.0 become 127.0.0.1.
	var replacements []string
	port := func() string { return fmt.Sprint(testenv.FreePort(t)) }
	adminPorts := map[string]string{}
	for _, e := range []string{"etcd1", "etcd2", "etcd3"} {
		c, p := port(), port()
		replacements = append(replacements, e+":2379", "127.0.0.1:"+c, e+":2380", "127.0.0.1:"+p)
		adminPorts[e] = c
	}
	brokerPorts := map[string][3]string{}
	for i, b := range []string{"broker1", "broker2", "broker3"} {
		ports := [3]string{port(), port(), port()} // internal, external, admin
		brokerPorts[b] = ports
		replacements = append(replacements, b+":9092", "127.0.0.1:"+ports[0], fmt.Sprintf("localhost:1909%d", i+2), "127.0.0.1:"+ports[1])
		adminPorts[b] = ports[2]
	}
	mapAddr := func(s string) string { return strings.NewReplacer(replacements...).Replace(s) }

	var procs []*composeProc
	start := func(name string, args []string, env []string) *composeProc {
		t.Helper()
		p := &composeProc{name: name, done: make(chan struct{})}
		p.cmd = exec.Command(runnelBinary, args...)
		testenv.DieWithTest(p.cmd)
		p.cmd.Env = env
		p.cmd.Stdout, p.cmd.Stderr = p, p
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		procs = append(procs, p)
		return p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
			if t.Failed() {
				t.Logf("%s output:\n%s", p.name, tail(p.output(), 30))
			}
		}
	})
	// The environment a container has: none of the host's KAFKA_*.
	var baseEnv []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_") && !strings.HasPrefix(kv, "RUNNEL_") {
			baseEnv = append(baseEnv, kv)
		}
	}

	for _, e := range []string{"etcd1", "etcd2", "etcd3"} {
		var args []string
		for _, a := range cf.Services[e].Command {
			a = strings.Replace(a, "--data-dir=/var/lib/etcd", "--data-dir="+filepath.Join(t.TempDir(), "etcd"), 1)
			a = strings.Replace(a, "http://0.0.0.0:2379", "http://127.0.0.1:"+adminPorts[e], 1)
			if strings.HasPrefix(a, "--listen-peer-urls=") {
				a = "--listen-peer-urls=" + mapAddr("http://"+e+":2380")
			}
			args = append(args, mapAddr(a))
		}
		start(e, args, baseEnv)
	}
	brokers := map[string]*composeProc{}
	brokerEnv := map[string][]string{}
	for _, b := range []string{"broker1", "broker2", "broker3"} {
		s := cf.Services[b]
		ports := brokerPorts[b]
		env := append(slices.Clone(baseEnv), "KAFKA_LOG_DIRS="+filepath.Join(shortDir(t), "logs")) // the image's ENV
		var keys []string
		for k := range s.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := mapAddr(s.Environment[k])
			switch k {
			case "KAFKA_LISTENERS":
				v = fmt.Sprintf("INTERNAL://127.0.0.1:%s,EXTERNAL://127.0.0.1:%s", ports[0], ports[1])
			case "KAFKA_RUNNEL_ADMIN_LISTENER":
				v = "127.0.0.1:" + ports[2]
			}
			env = append(env, k+"="+v)
		}
		brokerEnv[b] = env
		brokers[b] = start(b, s.Command, env)
	}

	// Every service's own health check command, mapped, passes.
	for name, s := range cf.Services {
		if name == "kafka" {
			continue
		}
		check := s.Healthcheck.Test[2:] // after CMD /runnel
		url := strings.Replace(check[1], "127.0.0.1:9644", "127.0.0.1:"+adminPorts[name], 1)
		url = strings.Replace(url, "127.0.0.1:2379", "127.0.0.1:"+adminPorts[name], 1)
		testenv.EventuallyWithin(t, 90*time.Second, name+" healthy", func() bool {
			return exec.Command(runnelBinary, check[0], url).Run() == nil
		})
	}

	// compose-check.sh's scenario, through the INTERNAL listeners.
	all := mapAddr("broker1:9092,broker2:9092,broker3:9092")
	survivors := mapAddr("broker1:9092,broker3:9092")
	cli := cliRunner{t: t, brokers: all}
	cli.ok("", "topic", "create", "compose-check", "-p", "3", "-r", "3")
	var a, b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&a, "a-%d\n", i)
		fmt.Fprintf(&b, "b-%d\n", i)
	}
	cli.ok(a.String(), "produce", "compose-check", "--acks", "all")
	brokers["broker2"].kill()
	cli = cliRunner{t: t, brokers: survivors}
	testenv.EventuallyWithin(t, time.Minute, "broker2 gone from the metadata", func() bool {
		out, _, code := cli.run("", "cluster", "info")
		return code == 0 && !strings.Contains(out, "127.0.0.1:"+brokerPorts["broker2"][0])
	})
	cli.ok(b.String(), "produce", "compose-check", "--acks", "all", "--timeout", "60s")
	got := strings.Split(strings.TrimSpace(cli.ok("", "consume", "compose-check", "-e", "--timeout", "60s")), "\n")
	want := strings.Split(strings.TrimSpace(a.String()+b.String()), "\n")
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(slices.Compact(got), want) {
		t.Fatalf("read back %d distinct records of the %d acknowledged", len(slices.Compact(got)), len(want))
	}

	// broker2 returns on its volume and the cluster is healthy again.
	brokers["broker2"] = start("broker2", cf.Services["broker2"].Command, brokerEnv["broker2"])
	cli = cliRunner{t: t, brokers: all}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		if _, _, code := cli.run("", "cluster", "health"); code == 0 {
			break
		}
		if ctx.Err() != nil {
			out, _, _ := cli.run("", "cluster", "health")
			t.Fatalf("cluster not healthy after broker2's return:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// shortDir is a temporary directory with a short path: the embedded etcd
// is not used here, but log dirs under t.TempDir() can exceed socket path
// limits elsewhere, and a short path keeps the logs readable.
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "rc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
