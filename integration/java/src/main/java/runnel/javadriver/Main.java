package runnel.javadriver;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java side of Runnel's integration tests: one JVM per call, driving
 * Apache Kafka's own client against a broker, and printing one JSON object
 * per line on stdout for the Go test to check. Logs go to stderr.
 *
 * <pre>
 * produce   --bootstrap B --topic T --count N [--codecs none,gzip,...] [--large BYTES] [--prop k=v]...
 * consume   --bootstrap B (--topics a,b | --pattern RE | --regex RE) [--group G] [--expect N] [--prop k=v]...
 *           (with --expect 0 it polls until its stdin closes; without --group it
 *           assigns itself every partition of --topics)
 * txn-copy  --bootstrap B --from T1 --to T2 --group G --txn-id X --expect N [--abort-first]
 * admin     --bootstrap B --topic T --group G
 * streams-wordcount --bootstrap B --input T1 --output T2 --app-id A --state-dir D [--prop k=v]...
 *           (Kafka Streams, exactly_once_v2, until its stdin closes)
 * </pre>
 *
 * Every line has an "event" field; a failed step prints "error" with the
 * exception's class and message rather than ending the run, so that one
 * call the broker answers wrongly does not hide the others.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0) {
            System.err.println("usage: Main produce|consume|txn-copy|admin [--option value]...");
            System.exit(2);
        }
        Args a = new Args(Arrays.copyOfRange(argv, 1, argv.length));
        switch (argv[0]) {
            case "produce" -> produce(a);
            case "consume" -> consume(a);
            case "txn-copy" -> txnCopy(a);
            case "admin" -> admin(a);
            case "streams-wordcount" -> WordCount.run(a);
            default -> {
                System.err.println("unknown mode " + argv[0]);
                System.exit(2);
            }
        }
        System.out.flush();
        // Kafka's clients leave no non-daemon thread once closed, but a
        // stdin watcher may still block in read: end the JVM here.
        System.exit(0);
    }

    /** --name value options; --prop may repeat (k=v client configs). */
    static final class Args {
        final Map<String, String> opts = new HashMap<>();
        final Properties props = new Properties();
        final Set<String> flags = new HashSet<>();

        Args(String[] argv) {
            for (int i = 0; i < argv.length; i++) {
                String k = argv[i];
                if (!k.startsWith("--")) throw new IllegalArgumentException("unexpected argument " + k);
                k = k.substring(2);
                boolean hasValue = i + 1 < argv.length && !argv[i + 1].startsWith("--");
                if (!hasValue) {
                    flags.add(k);
                    continue;
                }
                String v = argv[++i];
                if (k.equals("prop")) {
                    int eq = v.indexOf('=');
                    props.setProperty(v.substring(0, eq), v.substring(eq + 1));
                } else {
                    opts.put(k, v);
                }
            }
        }

        String get(String k) {
            String v = opts.get(k);
            if (v == null) throw new IllegalArgumentException("missing --" + k);
            return v;
        }

        String get(String k, String def) { return opts.getOrDefault(k, def); }

        int getInt(String k, int def) { return opts.containsKey(k) ? Integer.parseInt(opts.get(k)) : def; }
    }

    // ---- output -------------------------------------------------------

    static void emit(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        synchronized (System.out) {
            System.out.println(json(m));
            System.out.flush();
        }
    }

    static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof Number || o instanceof Boolean) return o.toString();
        if (o instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) sb.append(',');
                first = false;
                sb.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (o instanceof Collection<?> c) {
            StringBuilder sb = new StringBuilder("[");
            boolean first = true;
            for (Object e : c) {
                if (!first) sb.append(',');
                first = false;
                sb.append(json(e));
            }
            return sb.append(']').toString();
        }
        String s = o.toString();
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                    else sb.append(ch);
                }
            }
        }
        return sb.append('"').toString();
    }

    static String err(Throwable t) {
        while (t.getCause() != null && (t instanceof java.util.concurrent.ExecutionException
                || t.getClass().getName().equals("org.apache.kafka.common.KafkaException") && t.getCause() != null)) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    static String sha256(byte[] b) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest(b);
        StringBuilder sb = new StringBuilder();
        for (byte x : d) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static String str(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    // ---- produce ------------------------------------------------------

    /**
     * One idempotent acks=all producer per codec; record i of codec c has
     * key "k-i", value "c-i" and headers i=&lt;i&gt;, codec=&lt;c&gt;. With
     * --large, each codec also sends one record of that many bytes (key
     * "large", value bytes i%251) whose sha256 is printed.
     */
    static void produce(Args a) throws Exception {
        String topic = a.get("topic");
        int count = a.getInt("count", 10);
        int large = a.getInt("large", 0);
        for (String codec : a.get("codecs", "none").split(",")) {
            Properties p = new Properties();
            p.setProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
            p.setProperty(ProducerConfig.ACKS_CONFIG, "all");
            p.setProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            p.setProperty(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            p.setProperty(ProducerConfig.LINGER_MS_CONFIG, "5");
            p.setProperty(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(Math.max(1 << 20, large + (64 << 10))));
            p.putAll(a.props);
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            List<String> keys = new ArrayList<>();
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < count; i++) {
                    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, bytes("k-" + i), bytes(codec + "-" + i));
                    r.headers().add("i", bytes(String.valueOf(i))).add("codec", bytes(codec));
                    fs.add(pr.send(r));
                    keys.add("k-" + i);
                }
                if (large > 0) {
                    byte[] v = new byte[large];
                    for (int i = 0; i < large; i++) v[i] = (byte) (i % 251);
                    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, bytes("large"), v);
                    r.headers().add("codec", bytes(codec));
                    fs.add(pr.send(r));
                    keys.add("large");
                    emit("event", "large", "codec", codec, "bytes", large, "sha256", sha256(v));
                }
                pr.flush();
                int ok = 0;
                for (int i = 0; i < fs.size(); i++) {
                    try {
                        RecordMetadata md = fs.get(i).get();
                        emit("event", "sent", "codec", codec, "key", keys.get(i), "partition", md.partition(), "offset", md.offset());
                        ok++;
                    } catch (Exception e) {
                        emit("event", "send-error", "codec", codec, "key", keys.get(i), "error", err(e));
                    }
                }
                emit("event", "done", "codec", codec, "sent", ok);
            }
        }
    }

    // ---- consume ------------------------------------------------------

    /** Closes when stdin reaches EOF: the Go test's way to say "enough". */
    static void onStdinEOF(Runnable r) {
        Thread t = new Thread(() -> {
            try {
                byte[] buf = new byte[64];
                while (System.in.read(buf) >= 0) { /* discard */ }
            } catch (Exception ignored) {
                // EOF or a closed pipe mean the same.
            }
            r.run();
        }, "stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    static void wakeOnStdinEOF(KafkaConsumer<?, ?> c) {
        Thread t = new Thread(() -> {
            try {
                InputStream in = System.in;
                byte[] buf = new byte[64];
                while (in.read(buf) >= 0) { /* discard */ }
            } catch (Exception ignored) {
                // EOF or a closed pipe mean the same.
            }
            c.wakeup();
        }, "stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    static List<String> names(Collection<TopicPartition> tps) {
        List<String> out = new ArrayList<>();
        for (TopicPartition tp : tps) out.add(tp.topic() + "-" + tp.partition());
        out.sort(String::compareTo);
        return out;
    }

    static void consume(Args a) throws Exception {
        Properties p = new Properties();
        p.setProperty(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
        p.setProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (a.opts.containsKey("group")) p.setProperty(ConsumerConfig.GROUP_ID_CONFIG, a.get("group"));
        p.putAll(a.props);
        int expect = a.getInt("expect", 0);
        String printValues = a.get("values", "short");
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        if (expect == 0) wakeOnStdinEOF(c);
        ConsumerRebalanceListener l = new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                if (!parts.isEmpty() && a.opts.containsKey("group")) {
                    // Commit what was read before giving partitions away, as
                    // an application that wants no duplicates does.
                    try {
                        c.commitSync();
                    } catch (Exception e) {
                        emit("event", "commit-error", "error", err(e));
                    }
                }
                emit("event", "revoked", "partitions", names(parts));
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                emit("event", "assigned", "partitions", names(parts), "assignment", names(c.assignment()));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> parts) {
                emit("event", "lost", "partitions", names(parts));
            }
        };
        if (!a.opts.containsKey("group")) {
            // No group: read every partition of --topics from the start.
            List<TopicPartition> tps = new ArrayList<>();
            for (String topic : a.get("topics").split(",")) {
                c.partitionsFor(topic).forEach(pi -> tps.add(new TopicPartition(pi.topic(), pi.partition())));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
        } else if (a.opts.containsKey("topics")) {
            c.subscribe(Arrays.asList(a.get("topics").split(",")), l);
        } else if (a.opts.containsKey("pattern")) {
            c.subscribe(Pattern.compile(a.get("pattern")), l);
        } else if (a.opts.containsKey("regex")) {
            // KIP-848: the regex is resolved by the group coordinator.
            c.subscribe(new SubscriptionPattern(a.get("regex")), l);
        } else {
            throw new IllegalArgumentException("need --topics, --pattern or --regex");
        }
        emit("event", "subscribed");
        int n = 0;
        try {
            while (expect == 0 || n < expect) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    Map<String, String> hs = new LinkedHashMap<>();
                    for (Header h : r.headers()) hs.put(h.key(), str(h.value()));
                    byte[] v = r.value();
                    String value = v == null ? null : (printValues.equals("short") && v.length > 256 ? null : str(v));
                    emit("event", "record", "topic", r.topic(), "partition", r.partition(), "offset", r.offset(),
                            "key", str(r.key()), "value", value, "value_len", v == null ? -1 : v.length,
                            "sha256", v == null ? null : sha256(v), "headers", hs, "timestamp", r.timestamp());
                    n++;
                }
                if (!rs.isEmpty() && a.opts.containsKey("group")) c.commitSync();
            }
        } catch (WakeupException e) {
            // stdin closed: stop.
        }
        if (a.opts.containsKey("group")) {
            try {
                c.commitSync();
            } catch (Exception e) {
                emit("event", "commit-error", "error", err(e));
            }
        }
        c.close(Duration.ofSeconds(10));
        emit("event", "done", "count", n);
    }

    // ---- transactional copy --------------------------------------------

    /**
     * Reads --from under read_committed and copies every record to --to in
     * transactions that also commit the consumer's offsets
     * (sendOffsetsToTransaction), until --expect records are copied. With
     * --abort-first it first writes --expect records "aborted-i" to --to in
     * a transaction it aborts, so a read_committed reader of --to must skip
     * them.
     */
    static void txnCopy(Args a) throws Exception {
        String from = a.get("from"), to = a.get("to"), group = a.get("group");
        int expect = a.getInt("expect", 1);
        Properties pp = new Properties();
        pp.setProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
        pp.setProperty(ProducerConfig.TRANSACTIONAL_ID_CONFIG, a.get("txn-id"));
        pp.putAll(a.props);
        Properties cp = new Properties();
        cp.setProperty(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
        cp.setProperty(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.setProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.setProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer());
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            pr.initTransactions();
            emit("event", "init");
            if (a.flags.contains("abort-first")) {
                pr.beginTransaction();
                for (int i = 0; i < expect; i++) pr.send(new ProducerRecord<>(to, bytes("aborted-" + i), bytes("aborted-" + i)));
                pr.flush();
                pr.abortTransaction();
                emit("event", "aborted", "count", expect);
            }
            c.subscribe(List.of(from));
            int n = 0, txns = 0;
            while (n < expect) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
                if (rs.isEmpty()) continue;
                pr.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(to, r.key(), r.value());
                    for (Header h : r.headers()) out.headers().add(h);
                    pr.send(out);
                    offs.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    n++;
                }
                pr.sendOffsetsToTransaction(offs, c.groupMetadata());
                pr.commitTransaction();
                txns++;
                emit("event", "committed", "records", rs.count(), "total", n);
            }
            emit("event", "done", "copied", n, "transactions", txns);
        }
    }

    // ---- admin ----------------------------------------------------------

    interface Step {
        void run() throws Exception;
    }

    static void step(String name, Step s) {
        try {
            s.run();
        } catch (Exception e) {
            emit("event", "step", "step", name, "error", err(e));
        }
    }

    /**
     * A fixed sequence of Admin calls on --topic (created here, deleted at
     * the end) and --group (an existing group with committed offsets).
     */
    static void admin(Args a) throws Exception {
        String topic = a.get("topic"), group = a.get("group");
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", a.get("bootstrap"));
        p.setProperty("default.api.timeout.ms", "30000");
        p.putAll(a.props);
        try (Admin ad = Admin.create(p)) {
            ConfigResource tr = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            step("describeCluster", () -> {
                DescribeClusterResult r = ad.describeCluster();
                emit("event", "step", "step", "describeCluster", "clusterId", r.clusterId().get(),
                        "controller", r.controller().get().id(), "nodes", r.nodes().get().size());
            });
            step("createTopics", () -> {
                NewTopic nt = new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "3600000"));
                ad.createTopics(List.of(nt)).all().get();
                emit("event", "step", "step", "createTopics", "ok", true);
            });
            step("listTopics", () -> {
                Set<String> names = ad.listTopics().names().get();
                emit("event", "step", "step", "listTopics", "contains", names.contains(topic));
            });
            step("describeTopics", () -> {
                TopicDescription d = ad.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                List<Integer> leaders = new ArrayList<>();
                for (TopicPartitionInfo pi : d.partitions()) leaders.add(pi.leader() == null ? -1 : pi.leader().id());
                emit("event", "step", "step", "describeTopics", "partitions", d.partitions().size(),
                        "leaders", leaders, "topicId", String.valueOf(d.topicId()));
            });
            step("describeConfigs", () -> {
                Config cfg = ad.describeConfigs(List.of(tr)).all().get().get(tr);
                ConfigEntry ret = cfg.get("retention.ms");
                ConfigEntry cp = cfg.get("cleanup.policy");
                emit("event", "step", "step", "describeConfigs", "retention.ms", ret.value(),
                        "retention.ms.source", ret.source().toString(), "cleanup.policy", cp == null ? null : cp.value(),
                        "cleanup.policy.source", cp == null ? null : cp.source().toString(), "entries", cfg.entries().size());
            });
            step("incrementalAlterConfigs", () -> {
                ad.incrementalAlterConfigs(Map.of(tr, List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                        new AlterConfigOp(new ConfigEntry("segment.bytes", "1048576"), AlterConfigOp.OpType.SET)))).all().get();
                Config cfg = ad.describeConfigs(List.of(tr)).all().get().get(tr);
                emit("event", "step", "step", "incrementalAlterConfigs", "retention.ms", cfg.get("retention.ms").value(),
                        "segment.bytes", cfg.get("segment.bytes").value());
            });
            step("groupConfigs", () -> {
                // KIP-848 group configs: config resource GROUP, and the
                // groups that have some listed by ListConfigResources.
                ConfigResource gr = new ConfigResource(ConfigResource.Type.GROUP, group);
                ad.incrementalAlterConfigs(Map.of(gr, List.of(
                        new AlterConfigOp(new ConfigEntry("consumer.heartbeat.interval.ms", "6000"), AlterConfigOp.OpType.SET)))).all().get();
                Config cfg = ad.describeConfigs(List.of(gr)).all().get().get(gr);
                ConfigEntry hb = cfg.get("consumer.heartbeat.interval.ms");
                ConfigEntry st = cfg.get("consumer.session.timeout.ms");
                List<String> listed = new ArrayList<>();
                for (ConfigResource r : ad.listConfigResources(Set.of(ConfigResource.Type.GROUP), new ListConfigResourcesOptions()).all().get()) {
                    listed.add(r.name());
                }
                emit("event", "step", "step", "groupConfigs", "heartbeat", hb.value(), "heartbeat.source", hb.source().toString(),
                        "session", st.value(), "session.source", st.source().toString(), "entries", cfg.entries().size(), "listed", listed);
            });
            step("createPartitions", () -> {
                ad.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get();
                TopicDescription d = ad.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                emit("event", "step", "step", "createPartitions", "partitions", d.partitions().size());
            });
            step("produce", () -> {
                Properties pp = new Properties();
                pp.setProperty("bootstrap.servers", a.get("bootstrap"));
                try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                    for (int i = 0; i < 10; i++) pr.send(new ProducerRecord<>(topic, 0, (long) (1000 + i), null, bytes("v" + i))).get();
                }
                emit("event", "step", "step", "produce", "ok", true);
            });
            TopicPartition tp0 = new TopicPartition(topic, 0);
            step("listOffsets", () -> {
                ListOffsetsResult.ListOffsetsResultInfo e = ad.listOffsets(Map.of(tp0, OffsetSpec.earliest())).all().get().get(tp0);
                ListOffsetsResult.ListOffsetsResultInfo l = ad.listOffsets(Map.of(tp0, OffsetSpec.latest())).all().get().get(tp0);
                ListOffsetsResult.ListOffsetsResultInfo t = ad.listOffsets(Map.of(tp0, OffsetSpec.forTimestamp(1004))).all().get().get(tp0);
                ListOffsetsResult.ListOffsetsResultInfo m = ad.listOffsets(Map.of(tp0, OffsetSpec.maxTimestamp())).all().get().get(tp0);
                emit("event", "step", "step", "listOffsets", "earliest", e.offset(), "latest", l.offset(),
                        "forTimestamp1004", t.offset(), "maxTimestampOffset", m.offset(), "maxTimestamp", m.timestamp());
            });
            step("deleteRecords", () -> {
                long low = ad.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp0).get().lowWatermark();
                long e = ad.listOffsets(Map.of(tp0, OffsetSpec.earliest())).all().get().get(tp0).offset();
                emit("event", "step", "step", "deleteRecords", "lowWatermark", low, "earliest", e);
            });
            step("describeLogDirs", () -> {
                Map<Integer, Map<String, LogDirDescription>> dirs =
                        ad.describeLogDirs(ad.describeCluster().nodes().get().stream().map(n -> n.id()).toList()).allDescriptions().get();
                int replicas = 0;
                long size = -1;
                for (Map<String, LogDirDescription> byDir : dirs.values()) {
                    for (LogDirDescription d : byDir.values()) {
                        ReplicaInfo ri = d.replicaInfos().get(tp0);
                        if (ri != null) {
                            replicas++;
                            size = ri.size();
                        }
                    }
                }
                emit("event", "step", "step", "describeLogDirs", "brokers", dirs.size(), "replicasOfP0", replicas, "sizeOfP0", size);
            });
            step("listGroups", () -> {
                Collection<GroupListing> gs = ad.listGroups().all().get();
                List<String> ids = new ArrayList<>();
                for (GroupListing g : gs) ids.add(g.groupId() + ":" + g.type().map(Object::toString).orElse("?"));
                emit("event", "step", "step", "listGroups", "groups", ids);
            });
            step("listConsumerGroups", () -> {
                List<String> ids = new ArrayList<>();
                for (var g : ad.listConsumerGroups().all().get()) ids.add(g.groupId());
                emit("event", "step", "step", "listConsumerGroups", "groups", ids);
            });
            step("describeConsumerGroups", () -> {
                ConsumerGroupDescription d = ad.describeConsumerGroups(List.of(group)).all().get().get(group);
                List<String> members = new ArrayList<>();
                for (MemberDescription m : d.members()) members.add(m.consumerId());
                emit("event", "step", "step", "describeConsumerGroups", "state", d.groupState().toString(),
                        "type", d.type().toString(), "members", members.size());
            });
            step("listConsumerGroupOffsets", () -> {
                Map<TopicPartition, OffsetAndMetadata> offs = ad.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                Map<String, Long> out = new java.util.TreeMap<>();
                for (var e : offs.entrySet()) out.put(e.getKey().toString(), e.getValue().offset());
                emit("event", "step", "step", "listConsumerGroupOffsets", "offsets", out);
            });
            TopicPartition src0 = new TopicPartition(a.get("group-topic", "java-admin-src"), 0);
            step("alterConsumerGroupOffsets", () -> {
                ad.alterConsumerGroupOffsets(group, Map.of(src0, new OffsetAndMetadata(1, "meta"))).all().get();
                OffsetAndMetadata o = ad.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(src0);
                emit("event", "step", "step", "alterConsumerGroupOffsets", "offset", o.offset(), "metadata", o.metadata());
            });
            step("deleteConsumerGroupOffsets", () -> {
                ad.deleteConsumerGroupOffsets(group, Set.of(src0)).all().get();
                Map<TopicPartition, OffsetAndMetadata> left = ad.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                emit("event", "step", "step", "deleteConsumerGroupOffsets", "remaining", names(left.keySet()));
            });
            step("electLeaders", () -> {
                var r = ad.electLeaders(org.apache.kafka.common.ElectionType.PREFERRED, Set.of(tp0)).partitions().get();
                emit("event", "step", "step", "electLeaders",
                        "result", r.get(tp0).map(Main::err).orElse("elected"));
            });
            step("listPartitionReassignments", () -> {
                emit("event", "step", "step", "listPartitionReassignments",
                        "count", ad.listPartitionReassignments().reassignments().get().size());
            });
            step("describeProducers", () -> {
                var r = ad.describeProducers(List.of(tp0)).partitionResult(tp0).get();
                emit("event", "step", "step", "describeProducers", "producers", r.activeProducers().size());
            });
            step("listTransactions", () -> {
                emit("event", "step", "step", "listTransactions", "count", ad.listTransactions().all().get().size());
            });
            step("describeAcls", () -> {
                // Kafka without an authorizer answers SECURITY_DISABLED.
                try {
                    ad.describeAcls(org.apache.kafka.common.acl.AclBindingFilter.ANY).values().get();
                    emit("event", "step", "step", "describeAcls", "result", "ok");
                } catch (Exception e) {
                    emit("event", "step", "step", "describeAcls", "result", err(e));
                }
            });
            step("describeFeatures", () -> {
                var f = ad.describeFeatures().featureMetadata().get();
                emit("event", "step", "step", "describeFeatures", "finalized", new java.util.TreeSet<>(f.finalizedFeatures().keySet()));
            });
            step("deleteConsumerGroups", () -> {
                ad.deleteConsumerGroups(List.of(group)).all().get();
                List<String> ids = new ArrayList<>();
                for (var g : ad.listConsumerGroups().all().get()) ids.add(g.groupId());
                emit("event", "step", "step", "deleteConsumerGroups", "remaining", ids);
            });
            step("deleteTopics", () -> {
                ad.deleteTopics(List.of(topic)).all().get();
                emit("event", "step", "step", "deleteTopics", "ok", true);
            });
            step("listTopicsAfterDelete", () -> {
                // Deletion is asynchronous in Kafka too: the topic may linger
                // in metadata for a moment; report whether it is gone.
                Set<String> names = ad.listTopics().names().get();
                emit("event", "step", "step", "listTopicsAfterDelete", "contains", names.contains(topic));
            });
        }
        emit("event", "done");
    }
}
