// Reads __consumer_offsets records as "KEYHEX VALUEHEX" lines (VALUEHEX "-"
// for a tombstone) and decodes each with Kafka's own group coordinator
// serde (kafka-group-coordinator's GroupCoordinatorRecordSerde), then
// encodes it again with the same serde. Prints per record:
//   OK <reencoded identical: same|differs> <Kafka's toString of key => value>
// or "ERR <exception>" when Kafka cannot read it. Run in Java's source-file
// mode with Kafka's jars on the classpath.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HexFormat;

import org.apache.kafka.coordinator.common.runtime.CoordinatorRecord;
import org.apache.kafka.coordinator.group.GroupCoordinatorRecordSerde;

public class KafkaGroupRecordDecode {
    public static void main(String[] args) throws Exception {
        GroupCoordinatorRecordSerde serde = new GroupCoordinatorRecordSerde();
        HexFormat hex = HexFormat.of();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            byte[] key = hex.parseHex(f[0]);
            byte[] value = f[1].equals("-") ? null : hex.parseHex(f[1]);
            try {
                CoordinatorRecord r = serde.deserialize(ByteBuffer.wrap(key), value == null ? null : ByteBuffer.wrap(value));
                boolean same = Arrays.equals(serde.serializeKey(r), key)
                    && (value == null ? r.value() == null : Arrays.equals(serde.serializeValue(r), value));
                System.out.println("OK " + (same ? "same " : "differs ") + r.key() + " => " + (r.value() == null ? "null" : r.value().message()));
            } catch (Exception e) {
                System.out.println("ERR " + e);
            }
        }
    }
}
