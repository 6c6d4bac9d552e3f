package runnel.javadriver;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka's word-count example under exactly_once_v2: lines from --input,
 * split into words, re-keyed by word (a repartition topic), counted in a
 * state store (a changelog topic), each new count written to --output as
 * word -> decimal count. Runs until stdin closes; prints "running" once the
 * application reaches RUNNING and every state change after.
 */
final class WordCount {
    private WordCount() {}

    static void run(Main.Args a) throws Exception {
        Properties p = new Properties();
        p.setProperty(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
        p.setProperty(StreamsConfig.APPLICATION_ID_CONFIG, a.get("app-id"));
        p.setProperty(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir"));
        p.setProperty(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.setProperty(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "200");
        p.setProperty(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
        p.putAll(a.props);

        StreamsBuilder b = new StreamsBuilder();
        b.stream(a.get("input"), Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
                .filter((k, w) -> !w.isEmpty())
                .map((k, w) -> KeyValue.pair(w, w))
                .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                .count()
                .toStream()
                .mapValues(Object::toString)
                .to(a.get("output"), Produced.with(Serdes.String(), Serdes.String()));

        CountDownLatch stop = new CountDownLatch(1);
        try (KafkaStreams ks = new KafkaStreams(b.build(), p)) {
            ks.setStateListener((now, before) -> Main.emit("event", "state", "state", now.toString(), "before", before.toString()));
            ks.setUncaughtExceptionHandler(e -> {
                Main.emit("event", "uncaught", "error", Main.err(e));
                return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
            });
            Main.onStdinEOF(stop::countDown);
            ks.start();
            stop.await();
            ks.close(Duration.ofSeconds(30));
        }
        Main.emit("event", "done");
    }
}
