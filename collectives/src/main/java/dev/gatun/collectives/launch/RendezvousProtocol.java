package dev.gatun.collectives.launch;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The rendezvous store's wire format, shared by {@link RendezvousServer} and {@link RendezvousClient}. Big-endian
 * {@link DataOutputStream} encoding; every variable-length field is an {@code int} length then the bytes, and every
 * length is checked against its limit before anything is allocated.
 *
 * <pre>
 * hello    client: int MAGIC, int VERSION, bytes token     server: OK | REFUSED (then closes) | ERROR utf
 * SET      client: SET key value                           server: OK
 * GET      client: GET key long timeoutMillis              server: OK value | TIMEOUT
 * ADD      client: ADD key long delta                      server: OK long newValue | ERROR utf
 * WAIT     client: WAIT int n key*n long timeoutMillis     server: OK | TIMEOUT int m key*m (the missing keys)
 * </pre>
 * A key is 1..{@link RendezvousStore#MAX_KEY_BYTES} UTF-8 bytes, a value 0..{@link RendezvousStore#MAX_VALUE_BYTES}
 * bytes. After ERROR the server closes the connection.
 */
final class RendezvousProtocol {
    static final int MAGIC = 0x47545A52; // "GTZR"
    static final int VERSION = 1;

    static final int SET = 1;
    static final int GET = 2;
    static final int ADD = 3;
    static final int WAIT = 4;

    static final int OK = 0;
    static final int TIMEOUT = 1;
    static final int ERROR = 2;
    static final int REFUSED = 3;

    /** The most keys one WAIT may name. */
    static final int MAX_WAIT_KEYS = 1 << 16;

    /** A peer broke the protocol; the connection is not usable afterwards. */
    static final class ProtocolException extends IOException {
        ProtocolException(String message) {
            super(message);
        }
    }

    private RendezvousProtocol() {
    }

    static String opName(int op) {
        return switch (op) {
            case SET -> "SET";
            case GET -> "GET";
            case ADD -> "ADD";
            case WAIT -> "WAIT";
            default -> "op " + op;
        };
    }

    /** The key's UTF-8 bytes, or an exception saying what is wrong with it. */
    static byte[] keyBytes(String key) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("a rendezvous key must not be empty");
        }
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > RendezvousStore.MAX_KEY_BYTES) {
            throw new IllegalArgumentException("key of " + bytes.length + " bytes exceeds the limit of "
                    + RendezvousStore.MAX_KEY_BYTES + " bytes: '" + preview(key) + "'");
        }
        return bytes;
    }

    static void checkValue(String key, byte[] value) {
        if (value.length > RendezvousStore.MAX_VALUE_BYTES) {
            throw new IllegalArgumentException("value for key '" + preview(key) + "' has " + value.length
                    + " bytes, over the limit of " + RendezvousStore.MAX_VALUE_BYTES + " bytes (1 MiB)");
        }
    }

    static String preview(String key) {
        return key.length() <= 64 ? key : key.substring(0, 64) + "…";
    }

    static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    /** Reads a length-prefixed field of {@code min..max} bytes; {@code what} names it in the error. */
    static byte[] readBytes(DataInputStream in, int min, int max, String what) throws IOException {
        int length = in.readInt();
        if (length < min || length > max) {
            throw new ProtocolException(what + " length " + length + " outside [" + min + ", " + max + "]");
        }
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return bytes;
    }

    static String readKey(DataInputStream in) throws IOException {
        return new String(readBytes(in, 1, RendezvousStore.MAX_KEY_BYTES, "key"), StandardCharsets.UTF_8);
    }

    static byte[] readValue(DataInputStream in) throws IOException {
        return readBytes(in, 0, RendezvousStore.MAX_VALUE_BYTES, "value");
    }
}
