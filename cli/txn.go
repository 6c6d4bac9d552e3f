package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

type txnListItem struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	State           string `json:"state"`
	Coordinator     int32  `json:"coordinator"`
}

func txnList(e *env, args []string) error {
	fs := e.flags()
	var states stringList
	fs.Var(&states, "state", "only transactions in this state, e.g. Ongoing (repeatable)")
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	ls, err := adm.ListTransactions(ctx, nil, states)
	if err != nil {
		return err
	}
	items := []txnListItem{}
	for _, l := range ls.Sorted() {
		items = append(items, txnListItem{TransactionalID: l.TxnID, ProducerID: l.ProducerID, State: l.State, Coordinator: l.Coordinator})
	}
	return e.emit(items, func(w io.Writer) {
		t := newTable(w, "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR")
		for _, it := range items {
			t.row(it.TransactionalID, it.ProducerID, it.State, it.Coordinator)
		}
		t.flush()
	})
}

type txnDescription struct {
	TransactionalID string         `json:"transactional_id"`
	State           string         `json:"state"`
	Coordinator     int32          `json:"coordinator"`
	ProducerID      int64          `json:"producer_id"`
	ProducerEpoch   int16          `json:"producer_epoch"`
	TimeoutMs       int32          `json:"timeout_ms"`
	StartTimestamp  int64          `json:"start_timestamp"`
	Partitions      []txnPartition `json:"partitions"`
	Error           string         `json:"error,omitempty"`
}

type txnPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func txnDescribe(e *env, args []string) error {
	fs := e.flags()
	ids, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	ds, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil && len(ds) == 0 {
		return err
	}
	var out []txnDescription
	nErr := 0
	for _, id := range ids {
		d, ok := ds[id]
		td := txnDescription{TransactionalID: id, Partitions: []txnPartition{}}
		if !ok {
			td.Error = "not in the answer"
			if err != nil {
				td.Error = err.Error()
			}
		} else {
			td.State, td.Coordinator, td.ProducerID, td.ProducerEpoch = d.State, d.Coordinator, d.ProducerID, d.ProducerEpoch
			td.TimeoutMs, td.StartTimestamp, td.Error = d.TimeoutMillis, d.StartTimestamp, errText(d.Err, "")
			for _, tp := range d.Topics.Sorted() {
				for _, p := range tp.Partitions {
					td.Partitions = append(td.Partitions, txnPartition{Topic: tp.Topic, Partition: p})
				}
			}
		}
		if td.Error != "" {
			nErr++
		}
		out = append(out, td)
	}
	if err := e.emit(nonNil(out), func(w io.Writer) {
		t := newTable(w, "TRANSACTIONAL-ID", "STATE", "PRODUCER-ID", "EPOCH", "TIMEOUT", "STARTED", "COORDINATOR", "PARTITIONS", "ERROR")
		for _, d := range out {
			started := ""
			if d.StartTimestamp > 0 {
				started = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339)
			}
			var ps []string
			for _, p := range d.Partitions {
				ps = append(ps, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
			}
			timeout := ""
			if d.TimeoutMs > 0 {
				timeout = (time.Duration(d.TimeoutMs) * time.Millisecond).String()
			}
			t.row(d.TransactionalID, d.State, d.ProducerID, d.ProducerEpoch, timeout, started, d.Coordinator, strings.Join(ps, ","), d.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	return failed(nErr, len(out), "transactional ids")
}
