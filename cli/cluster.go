package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

type brokerInfo struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
	// Error is set by cluster health when the broker does not answer
	// ApiVersions.
	Error string `json:"error,omitempty"`
}

type clusterInfoOut struct {
	ClusterID  string       `json:"cluster_id"`
	Controller int32        `json:"controller"`
	Brokers    []brokerInfo `json:"brokers"`
	Topics     int          `json:"topics"`
	Partitions int          `json:"partitions"`
}

func clusterInfo(e *env, args []string) error {
	fs := e.flags()
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return err
	}
	out := clusterInfoOut{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerInfo{}, Topics: len(md.Topics)}
	for _, td := range md.Topics {
		out.Partitions += len(td.Partitions)
	}
	for _, b := range md.Brokers {
		out.Brokers = append(out.Brokers, brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	return e.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "CLUSTER     %s\nCONTROLLER  %d\nTOPICS      %d (%d partitions)\n\n", out.ClusterID, out.Controller, out.Topics, out.Partitions)
		printBrokers(w, out.Brokers, out.Controller)
	})
}

func printBrokers(w io.Writer, bs []brokerInfo, controller int32) {
	t := newTable(w, "ID", "HOST", "PORT", "RACK", "ERROR")
	for _, b := range bs {
		id := fmt.Sprint(b.ID)
		if b.ID == controller {
			id += "*"
		}
		rack := ""
		if b.Rack != nil {
			rack = *b.Rack
		}
		t.row(id, b.Host, b.Port, rack, b.Error)
	}
	t.flush()
}

// partitionRef names a partition in the health report.
type partitionRef struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
}

type clusterHealthOut struct {
	Healthy                bool           `json:"healthy"`
	ClusterID              string         `json:"cluster_id"`
	Controller             int32          `json:"controller"`
	Brokers                []brokerInfo   `json:"brokers"`
	UnreachableBrokers     []int32        `json:"unreachable_brokers"`
	UnderReplicated        []partitionRef `json:"under_replicated_partitions"`
	Offline                []partitionRef `json:"offline_partitions"`
	UnavailableTopics      []string       `json:"unavailable_topics"`
	UnhealthyBecause       []string       `json:"unhealthy_because"`
	CheckedTopics          int            `json:"checked_topics"`
	CheckedPartitionsTotal int            `json:"checked_partitions"`
}

// errUnhealthy makes `cluster health` exit 1 after printing its report.
var errUnhealthy = errors.New("cluster is unhealthy")

// clusterHealth reports what an operator's alert would: the brokers the
// metadata lists and whether each answers, the controller, and partitions
// without a leader (offline) or with an ISR smaller than the replica set
// (under-replicated). It looks at every topic, internal ones included.
func clusterHealth(e *env, args []string) error {
	fs := e.flags()
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return err
	}
	// ApiVersions goes to every broker the metadata lists: one that is
	// registered but unreachable shows here.
	versions, _ := adm.ApiVersions(ctx)
	out := assessHealth(md, versions)
	if err := e.emit(out, func(w io.Writer) { printHealth(w, out) }); err != nil {
		return err
	}
	if !out.Healthy {
		return errUnhealthy
	}
	return nil
}

// printHealth is cluster health's text: the verdict and its reasons first,
// for a glance or a grep, then the brokers and the partitions concerned.
func printHealth(w io.Writer, out clusterHealthOut) {
	state := "HEALTHY"
	if !out.Healthy {
		state = "UNHEALTHY"
	}
	fmt.Fprintf(w, "%s\n", state)
	for _, why := range out.UnhealthyBecause {
		fmt.Fprintf(w, "  %s\n", why)
	}
	fmt.Fprintf(w, "\nCLUSTER     %s\nCONTROLLER  %d\nCHECKED     %d topics, %d partitions\n\n", out.ClusterID, out.Controller, out.CheckedTopics, out.CheckedPartitionsTotal)
	printBrokers(w, out.Brokers, out.Controller)
	if len(out.Offline)+len(out.UnderReplicated) > 0 {
		fmt.Fprintln(w)
		t := newTable(w, "TOPIC", "PARTITION", "STATE", "LEADER", "REPLICAS", "ISR")
		for _, p := range out.Offline {
			t.row(p.Topic, p.Partition, "offline", p.Leader, int32s(p.Replicas), int32s(p.ISR))
		}
		for _, p := range out.UnderReplicated {
			t.row(p.Topic, p.Partition, "under-replicated", p.Leader, int32s(p.Replicas), int32s(p.ISR))
		}
		t.flush()
	}
}

// assessHealth judges the cluster from its metadata and the brokers'
// ApiVersions answers: healthy means brokers listed, a controller, every
// broker answering, every partition with a leader and a full ISR, and no
// topic with a metadata error.
func assessHealth(md kadm.Metadata, versions kadm.BrokersApiVersions) clusterHealthOut {
	out := clusterHealthOut{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerInfo{},
		UnreachableBrokers: []int32{}, UnderReplicated: []partitionRef{}, Offline: []partitionRef{},
		UnavailableTopics: []string{}, UnhealthyBecause: []string{}, CheckedTopics: len(md.Topics)}
	for _, b := range md.Brokers {
		bi := brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack}
		if v, ok := versions[b.NodeID]; !ok {
			bi.Error = "no answer"
		} else if v.Err != nil {
			bi.Error = v.Err.Error()
		}
		if bi.Error != "" {
			out.UnreachableBrokers = append(out.UnreachableBrokers, b.NodeID)
		}
		out.Brokers = append(out.Brokers, bi)
	}
	for _, name := range sortedKeys(md.Topics) {
		td := md.Topics[name]
		if td.Err != nil {
			out.UnavailableTopics = append(out.UnavailableTopics, name)
			continue
		}
		for _, pd := range td.Partitions.Sorted() {
			out.CheckedPartitionsTotal++
			ref := partitionRef{Topic: name, Partition: pd.Partition, Leader: pd.Leader, Replicas: nonNil(pd.Replicas), ISR: nonNil(pd.ISR)}
			if pd.Leader < 0 {
				out.Offline = append(out.Offline, ref)
				continue
			}
			if len(pd.ISR) < len(pd.Replicas) {
				out.UnderReplicated = append(out.UnderReplicated, ref)
			}
		}
	}
	sort.Slice(out.UnreachableBrokers, func(i, j int) bool { return out.UnreachableBrokers[i] < out.UnreachableBrokers[j] })
	if len(out.Brokers) == 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, "no brokers in the metadata")
	}
	if out.Controller < 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, "no active controller")
	}
	if n := len(out.UnreachableBrokers); n > 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, fmt.Sprintf("%d unreachable brokers", n))
	}
	if n := len(out.Offline); n > 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, fmt.Sprintf("%d offline partitions", n))
	}
	if n := len(out.UnderReplicated); n > 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, fmt.Sprintf("%d under-replicated partitions", n))
	}
	if n := len(out.UnavailableTopics); n > 0 {
		out.UnhealthyBecause = append(out.UnhealthyBecause, fmt.Sprintf("%d topics with a metadata error", n))
	}
	out.Healthy = len(out.UnhealthyBecause) == 0
	return out
}
