package integration

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	yaml "go.yaml.in/yaml/v2"
)

// composeFile is the part of docker-compose.yml the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]string `yaml:"build"`
	Profiles    []string          `yaml:"profiles"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

// TestComposeFile checks docker-compose.yml's structure where no Docker
// engine runs it (scripts/compose-check.sh runs it where one does): a
// single-node service and, under the "cluster" profile, three brokers on
// a three-member etcd cluster; every service on the runnel image built
// from the FROM scratch Dockerfile, with a health check the image can run,
// its data on a named volume and its admin port on loopback only; each
// broker's environment a valid broker configuration naming every etcd
// member, with ids and advertised listeners of its own.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kafka", "etcd1", "etcd2", "etcd3", "broker1", "broker2", "broker3"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	if len(cf.Services) != 7 {
		t.Errorf("%d services, want 7", len(cf.Services))
	}

	var etcdClients, etcdPeers []string
	for name, s := range cf.Services {
		if s.Image != "runnel:latest" || s.Build["dockerfile"] != "Dockerfile" {
			t.Errorf("%s: image %q build %v, want runnel:latest from Dockerfile", name, s.Image, s.Build)
		}
		if len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[1] != "/runnel" || s.Healthcheck.Test[2] != "probe" {
			t.Errorf("%s: health check %v, want [CMD /runnel probe URL] (the image has no shell)", name, s.Healthcheck.Test)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d < time.Minute {
			t.Errorf("%s: stop_grace_period %q, want a minute or more (Docker's 10 s SIGKILLs a broker closing many logs)", name, s.StopGracePeriod)
		}
		clustered := slices.Contains(s.Profiles, "cluster")
		if clustered == (name == "kafka") {
			t.Errorf("%s: profiles %v", name, s.Profiles)
		}
		if len(s.Volumes) != 1 {
			t.Errorf("%s: volumes %v, want one named volume", name, s.Volumes)
		} else if vol := strings.SplitN(s.Volumes[0], ":", 2)[0]; strings.HasPrefix(vol, ".") || strings.HasPrefix(vol, "/") {
			t.Errorf("%s: volume %q is a bind mount, want a named volume", name, vol)
		} else if _, ok := cf.Volumes[vol]; !ok {
			t.Errorf("%s: volume %q not declared", name, vol)
		}
		if strings.HasPrefix(name, "etcd") {
			flags := map[string]string{}
			if len(s.Command) == 0 || s.Command[0] != "etcd" {
				t.Fatalf("%s: command %v, want runnel etcd", name, s.Command)
			}
			for _, a := range s.Command[1:] {
				k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				flags[k] = v
			}
			if flags["name"] != name || flags["advertise-client-urls"] != "http://"+name+":2379" || flags["initial-advertise-peer-urls"] != "http://"+name+":2380" {
				t.Errorf("%s: flags %v", name, flags)
			}
			etcdClients = append(etcdClients, "http://"+name+":2379")
			etcdPeers = append(etcdPeers, flags["initial-cluster"])
			if len(s.Ports) != 0 {
				t.Errorf("%s publishes %v: etcd has no authentication", name, s.Ports)
			}
		}
	}
	for _, ic := range etcdPeers {
		if ic != "etcd1=http://etcd1:2380,etcd2=http://etcd2:2380,etcd3=http://etcd3:2380" {
			t.Errorf("initial cluster %q differs between members", ic)
		}
	}
	sort.Strings(etcdClients)

	ids := map[string]string{}
	admin := regexp.MustCompile(`^127\.0\.0\.1:\d+:9644$`)
	for _, name := range []string{"kafka", "broker1", "broker2", "broker3"} {
		s := cf.Services[name]
		var env []string
		for k, v := range s.Environment {
			env = append(env, k+"="+v)
		}
		cfg, warnings, err := config.Load("", env, nil)
		if err != nil {
			t.Fatalf("%s: environment is not a valid broker config: %v", name, err)
		}
		if len(warnings) > 0 {
			t.Errorf("%s: config warnings %v", name, warnings)
		}
		if len(s.Command) != 1 || s.Command[0] != "serve" {
			t.Errorf("%s: command %v", name, s.Command)
		}
		adminPorts := 0
		for _, p := range s.Ports {
			if strings.HasSuffix(p, ":9644") {
				adminPorts++
				if !admin.MatchString(p) {
					t.Errorf("%s: admin port %q not bound to 127.0.0.1", name, p)
				}
			}
		}
		if adminPorts != 1 || cfg.AdminListener != "0.0.0.0:9644" {
			t.Errorf("%s: admin ports %v, admin listener %q", name, s.Ports, cfg.AdminListener)
		}
		if name == "kafka" {
			if len(cfg.EtcdEndpoints) != 0 {
				t.Errorf("kafka: etcd endpoints %v, want the embedded etcd", cfg.EtcdEndpoints)
			}
			continue
		}
		if prev, dup := ids[s.Environment["KAFKA_NODE_ID"]]; dup {
			t.Errorf("%s and %s share node id %s", name, prev, s.Environment["KAFKA_NODE_ID"])
		}
		ids[s.Environment["KAFKA_NODE_ID"]] = name
		got := slices.Clone(cfg.EtcdEndpoints)
		sort.Strings(got)
		if !slices.Equal(got, etcdClients) {
			t.Errorf("%s: etcd endpoints %v, want %v", name, got, etcdClients)
		}
		for _, e := range []string{"etcd1", "etcd2", "etcd3"} {
			if s.DependsOn[e].Condition != "service_healthy" {
				t.Errorf("%s: depends_on %s %q, want service_healthy", name, e, s.DependsOn[e].Condition)
			}
		}
		if !strings.Contains(s.Environment["KAFKA_ADVERTISED_LISTENERS"], "INTERNAL://"+name+":9092") {
			t.Errorf("%s: advertised listeners %q", name, s.Environment["KAFKA_ADVERTISED_LISTENERS"])
		}
		if cfg.MinInsyncReplicas != 2 || cfg.DefaultReplicationFactor != 3 {
			t.Errorf("%s: min.insync.replicas %d, default.replication.factor %d", name, cfg.MinInsyncReplicas, cfg.DefaultReplicationFactor)
		}
	}

	// The image builds without pulling: Dockerfile is FROM scratch only.
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	for _, line := range strings.Split(string(df), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	if !slices.Equal(froms, []string{"scratch"}) {
		t.Errorf("Dockerfile FROM %v, want only scratch", froms)
	}
}
