# Generates runnel.json (python3 docs/grafana/gen.py from the repository root).
# Every query must name a metric the brokers export: TestMetricsDuringTraffic/dashboard.
import json
panels=[]
pid=[0]
y=[0]
def row(title):
    pid[0]+=1
    panels.append({"type":"row","title":title,"id":pid[0],"collapsed":False,"gridPos":{"h":1,"w":24,"x":0,"y":y[0]},"panels":[]})
    y[0]+=1
x=[0]
def panel(title, exprs, unit="short", kind="timeseries", w=8, h=7, desc=""):
    pid[0]+=1
    if x[0]+w>24:
        x[0]=0; y[0]+=h
    p={"type":kind,"title":title,"id":pid[0],"datasource":{"type":"prometheus","uid":"${datasource}"},
       "gridPos":{"h":h,"w":w,"x":x[0],"y":y[0]},
       "fieldConfig":{"defaults":{"unit":unit},"overrides":[]},
       "targets":[{"refId":chr(65+i),"expr":e,"legendFormat":l,"datasource":{"type":"prometheus","uid":"${datasource}"}} for i,(e,l) in enumerate(exprs)]}
    if desc: p["description"]=desc
    if kind=="stat":
        p["options"]={"reduceOptions":{"calcs":["lastNotNull"]},"colorMode":"background"}
    panels.append(p)
    x[0]+=w
def endrow(h=7):
    x[0]=0; y[0]+=h
I='instance=~"$instance"'
row("Cluster health")
panel("Brokers up",[(f'count(runnel_partitions{{{I}}})',"brokers")],kind="stat",w=4,h=4)
panel("Active controllers",[(f'sum(runnel_controller_active{{{I}}})',"controllers")],kind="stat",w=4,h=4,desc="Must be 1 (Kafka's ActiveControllerCount).")
panel("Offline partitions",[(f'sum(runnel_offline_partitions{{{I}}})',"offline")],kind="stat",w=4,h=4)
panel("Under-replicated",[(f'sum(runnel_under_replicated_partitions{{{I}}})',"under-replicated")],kind="stat",w=4,h=4)
panel("Under min ISR",[(f'sum(runnel_under_min_isr_partitions{{{I}}})',"under min ISR")],kind="stat",w=4,h=4)
panel("Offline log dirs",[(f'sum(runnel_log_dir_offline{{{I}}})',"offline")],kind="stat",w=4,h=4)
endrow(4)
row("Throughput")
panel("Bytes in by topic",[(f'sum by (topic) (rate(runnel_topic_bytes_in_total{{{I},topic=~"$topic"}}[$__rate_interval]))',"{{topic}}")],unit="Bps")
panel("Bytes out by topic",[(f'sum by (topic) (rate(runnel_topic_bytes_out_total{{{I},topic=~"$topic"}}[$__rate_interval]))',"{{topic}}"),
  (f'sum(rate(runnel_topic_replication_bytes_out_total{{{I}}}[$__rate_interval]))',"replication")],unit="Bps")
panel("Messages in by topic",[(f'sum by (topic) (rate(runnel_topic_messages_in_total{{{I},topic=~"$topic"}}[$__rate_interval]))',"{{topic}}")],unit="short")
panel("Failed produce / fetch (partitions)",[(f'sum by (topic) (rate(runnel_topic_failed_produce_requests_total{{{I}}}[$__rate_interval]))',"produce {{topic}}"),
  (f'sum by (topic) (rate(runnel_topic_failed_fetch_requests_total{{{I}}}[$__rate_interval]))',"fetch {{topic}}")])
endrow()
row("Requests")
panel("Requests by API",[(f'sum by (api) (rate(runnel_requests_total{{{I}}}[$__rate_interval]))',"{{api}}")],unit="reqps")
panel("Errors by API and code",[(f'sum by (api, error) (rate(runnel_request_errors_total{{{I},error!="NONE"}}[$__rate_interval]))',"{{api}} {{error}}")])
panel("p99 total time by API",[(f'histogram_quantile(0.99, sum by (api, le) (rate(runnel_request_duration_seconds_bucket{{{I},phase="total"}}[$__rate_interval])))',"{{api}}")],unit="s")
panel("$api: p99 by phase",[(f'histogram_quantile(0.99, sum by (phase, le) (rate(runnel_request_duration_seconds_bucket{{{I},api="$api"}}[$__rate_interval])))',"{{phase}}")],unit="s",w=12,
  desc="Kafka's RequestMetrics split: request_queue, local, remote (purgatory), throttle, response_send, total.")
panel("$api: mean by phase",[(f'sum by (phase) (rate(runnel_request_duration_seconds_sum{{{I},api="$api"}}[$__rate_interval])) / sum by (phase) (rate(runnel_request_duration_seconds_count{{{I},api="$api"}}[$__rate_interval]))',"{{phase}}")],unit="s",w=12)
endrow()
row("Replication and controller")
panel("Partitions and leaders",[(f'runnel_partitions{{{I}}}',"partitions {{instance}}"),(f'runnel_leader_partitions{{{I}}}',"leaders {{instance}}")])
panel("ISR shrinks / expands",[(f'sum(rate(runnel_isr_shrinks_total{{{I}}}[$__rate_interval]))',"shrinks"),(f'sum(rate(runnel_isr_expands_total{{{I}}}[$__rate_interval]))',"expands")])
panel("Follower max lag (records)",[(f'runnel_replica_max_lag{{{I}}}',"{{instance}}")])
panel("Leader elections",[(f'sum(increase(runnel_leader_elections_total{{{I}}}[$__rate_interval]))',"elections"),(f'sum(increase(runnel_unclean_leader_elections_total{{{I}}}[$__rate_interval]))',"unclean")])
panel("etcd request p99 by method",[(f'histogram_quantile(0.99, sum by (method, le) (rate(runnel_etcd_request_duration_seconds_bucket{{{I}}}[$__rate_interval])))',"{{method}}")],unit="s")
panel("etcd session",[(f'runnel_etcd_session_up{{{I}}}',"up {{instance}}"),(f'increase(runnel_etcd_sessions_lost_total{{{I}}}[$__rate_interval])',"lost {{instance}}")])
endrow()
row("Consumer groups")
panel("Groups by protocol and state",[(f'sum by (protocol, state) (runnel_groups{{{I}}})',"{{protocol}} {{state}}")])
panel("Rebalances",[(f'sum by (protocol) (rate(runnel_group_rebalances_total{{{I}}}[$__rate_interval]))',"{{protocol}}")])
panel("Consumer lag by group",[(f'sum by (group) (runnel_consumer_group_lag_sum{{{I}}})',"{{group}}")],
  desc="High watermark less committed offset, for partitions whose leader is also the group's coordinator; for every partition use the committed offsets against runnel_partition_high_watermark.")
panel("Lag by group and topic (all partitions)",[(f'sum by (group, topic) (max by (topic, partition) (runnel_partition_high_watermark{{{I}}}) - on (topic, partition) group_right max by (group, topic, partition) (runnel_consumer_group_committed_offset{{{I}}}))',"{{group}} {{topic}}")],w=12)
panel("Coordinator partitions loading",[(f'sum(runnel_group_coordinator_partitions_loading{{{I}}})',"loading")],w=12)
endrow()
row("Transactions")
panel("Transactions by state",[(f'sum by (state) (runnel_transactions{{{I}}})',"{{state}}")],w=12)
panel("Oldest open transaction",[(f'max(runnel_transaction_oldest_open_seconds{{{I}}})',"oldest")],unit="s",w=12,
  desc="A hanging transaction holds back read_committed consumers (the LSO).")
endrow()
row("Log and storage")
panel("Log size by topic",[(f'sum by (topic) (runnel_log_size_bytes{{{I},topic=~"$topic"}})',"{{topic}}")],unit="bytes")
panel("Log flush p99",[(f'histogram_quantile(0.99, sum by (le) (rate(runnel_log_flush_duration_seconds_bucket{{{I}}}[$__rate_interval])))',"p99")],unit="s")
panel("Segments and open files",[(f'sum(runnel_log_segments{{{I}}})',"segments"),(f'sum(runnel_log_open_segment_files{{{I}}})',"open files"),(f'sum(runnel_log_dir_stray_partitions{{{I}}})',"stray dirs")])
endrow()
row("Network")
panel("Connections by listener",[(f'sum by (listener) (runnel_connections{{{I}}})',"{{listener}}")])
panel("Connection creation / idle closes",[(f'sum by (listener) (rate(runnel_connections_created_total{{{I}}}[$__rate_interval]))',"created {{listener}}"),
  (f'sum by (listener) (rate(runnel_connections_idle_closed_total{{{I}}}[$__rate_interval]))',"idle closed {{listener}}"),
  (f'sum by (listener) (rate(runnel_authentication_failures_total{{{I}}}[$__rate_interval]))',"auth failed {{listener}}")])
panel("Request memory pool available",[(f'runnel_request_memory_pool_available_bytes{{{I}}}',"{{instance}}"),(f'runnel_request_queue_size{{{I}}}',"queued {{instance}}")],unit="bytes")
endrow()
row("Process")
panel("CPU",[(f'rate(process_cpu_seconds_total{{{I}}}[$__rate_interval])',"{{instance}}")],unit="percentunit")
panel("Heap in use",[(f'go_memstats_heap_inuse_bytes{{{I}}}',"{{instance}}")],unit="bytes")
panel("Goroutines / open fds",[(f'go_goroutines{{{I}}}',"goroutines {{instance}}"),(f'process_open_fds{{{I}}}',"fds {{instance}}")])
endrow()
ds={"type":"prometheus","uid":"${datasource}"}
dash={"title":"Runnel","uid":"runnel-overview","schemaVersion":39,"version":1,"editable":True,"tags":["runnel","kafka"],
 "time":{"from":"now-1h","to":"now"},"refresh":"30s",
 "description":"Runnel brokers: Kafka's alerting metrics (docs/metrics.md maps each series to its Kafka JMX name). Every query names a metric a broker exports (integration test TestMetricsDuringTraffic/dashboard).",
 "templating":{"list":[
   {"name":"datasource","type":"datasource","query":"prometheus","label":"Data source"},
   {"name":"instance","type":"query","datasource":ds,"query":{"query":"label_values(runnel_partitions, instance)","refId":"instance"},"definition":"label_values(runnel_partitions, instance)","includeAll":True,"multi":True,"allValue":".*","refresh":2},
   {"name":"topic","type":"query","datasource":ds,"query":{"query":"label_values(runnel_topic_bytes_in_total, topic)","refId":"topic"},"definition":"label_values(runnel_topic_bytes_in_total, topic)","includeAll":True,"multi":True,"allValue":".*","refresh":2},
   {"name":"api","type":"query","datasource":ds,"query":{"query":"label_values(runnel_requests_total, api)","refId":"api"},"definition":"label_values(runnel_requests_total, api)","includeAll":False,"current":{"text":"Produce","value":"Produce"},"refresh":2}]},
 "panels":panels}
json.dump(dash,open("docs/grafana/runnel.json","w"),indent=2)
print(len(panels))
