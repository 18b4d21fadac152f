package dev.gatun.collectives.launch;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.gatun.collectives.launch.RendezvousProtocol.ADD;
import static dev.gatun.collectives.launch.RendezvousProtocol.ERROR;
import static dev.gatun.collectives.launch.RendezvousProtocol.GET;
import static dev.gatun.collectives.launch.RendezvousProtocol.OK;
import static dev.gatun.collectives.launch.RendezvousProtocol.REFUSED;
import static dev.gatun.collectives.launch.RendezvousProtocol.SET;
import static dev.gatun.collectives.launch.RendezvousProtocol.TIMEOUT;
import static dev.gatun.collectives.launch.RendezvousProtocol.WAIT;

/**
 * One connection to a {@link RendezvousServer}, like a {@code torch.distributed.TCPStore} client: {@link #set},
 * blocking {@link #get}, {@link #waitFor} several keys, and the atomic counter {@link #add}.
 *
 * <p>Every call is bounded: {@link #get} and {@link #waitFor} by their timeout (the server waits, and the reply may
 * take the I/O timeout more), the others by the I/O timeout. Requests on one client run one at a time (a blocking
 * {@code get} holds the connection); threads that wait independently should use a client each. A key that is not
 * set in time leaves the client usable; any other failure (I/O, protocol, server error) closes it, and later calls
 * throw {@link IllegalStateException} naming that failure.
 */
public final class RendezvousClient implements AutoCloseable {
    private static final Duration DEFAULT_IO_TIMEOUT = Duration.ofSeconds(30);
    private static final long FIRST_RETRY_MILLIS = 20;
    private static final long MAX_RETRY_MILLIS = 500;

    private final String server;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final int ioTimeoutMillis;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile String closedBecause = "closed by its owner";

    private RendezvousClient(String server, Socket socket, int ioTimeoutMillis) throws IOException {
        this.server = server;
        this.socket = socket;
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        this.ioTimeoutMillis = ioTimeoutMillis;
    }

    /** {@link #connect(String, int, String, Duration, Duration)} with a 30 s I/O timeout. */
    public static RendezvousClient connect(String host, int port, String token, Duration connectTimeout) {
        return connect(host, port, token, connectTimeout, DEFAULT_IO_TIMEOUT);
    }

    /**
     * Connects and presents {@code token}. While the server is not up yet (refused, unreachable, host not yet
     * resolvable) it retries with growing pauses until {@code connectTimeout} has passed.
     *
     * @param ioTimeout how long to wait for the server's answer to the hello and to any request that does not wait
     *                  for a key
     * @throws RendezvousTimeoutException if no connection was made in time, naming the address and the last error
     * @throws RendezvousException        if the server refused the token or broke the protocol
     */
    public static RendezvousClient connect(String host, int port, String token, Duration connectTimeout,
                                           Duration ioTimeout) {
        byte[] tokenBytes = token.getBytes(StandardCharsets.UTF_8);
        if (tokenBytes.length > RendezvousStore.MAX_TOKEN_BYTES) {
            throw new IllegalArgumentException("job token has " + tokenBytes.length + " bytes, over the limit of "
                    + RendezvousStore.MAX_TOKEN_BYTES);
        }
        String server = host + ":" + port;
        int ioMillis = Math.toIntExact(Math.max(1, ioTimeout.toMillis()));
        long start = System.nanoTime();
        long deadline = start + connectTimeout.toNanos();
        long pauseMillis = FIRST_RETRY_MILLIS;
        int attempts = 0;
        while (true) {
            attempts++;
            Socket socket = new Socket();
            IOException failure;
            try {
                long leftMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
                socket.connect(new InetSocketAddress(host, port), Math.toIntExact(Math.min(leftMillis, 5_000)));
                return handshake(server, socket, tokenBytes, ioMillis);
            } catch (IOException e) {
                failure = e;
                closeQuietly(socket);
            }
            long leftMillis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (leftMillis <= 0) {
                Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
                throw new RendezvousTimeoutException("could not connect to the rendezvous server at " + server
                        + " within " + millis(elapsed) + " (" + attempts + " attempts; last error: " + failure
                        + "); is rank 0 running and MASTER_ADDR/MASTER_PORT right?", List.of(), elapsed);
            }
            sleep(Math.min(pauseMillis, leftMillis));
            pauseMillis = Math.min(2 * pauseMillis, MAX_RETRY_MILLIS);
        }
    }

    private static RendezvousClient handshake(String server, Socket socket, byte[] token, int ioMillis)
            throws IOException {
        boolean ok = false;
        try {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(ioMillis);
            RendezvousClient client = new RendezvousClient(server, socket, ioMillis);
            client.out.writeInt(RendezvousProtocol.MAGIC);
            client.out.writeInt(RendezvousProtocol.VERSION);
            RendezvousProtocol.writeBytes(client.out, token);
            client.out.flush();
            int status;
            try {
                status = client.in.readUnsignedByte();
            } catch (SocketTimeoutException e) {
                throw new RendezvousTimeoutException("the rendezvous server at " + server
                        + " did not answer the hello within " + ioMillis + " ms", List.of(),
                        Duration.ofMillis(ioMillis));
            } catch (EOFException e) {
                throw new RendezvousException("the rendezvous server at " + server
                        + " closed the connection during the hello", e);
            }
            switch (status) {
                case OK -> {
                }
                case REFUSED -> throw new RendezvousException("the rendezvous server at " + server
                        + " refused this job token; every rank must see the same " + TorchrunEnvironment.JOB_TOKEN);
                case ERROR -> throw new RendezvousException("the rendezvous server at " + server
                        + " rejected the hello: " + client.in.readUTF());
                default -> throw new RendezvousException("the rendezvous server at " + server
                        + " answered the hello with unknown status " + status);
            }
            ok = true;
            return client;
        } finally {
            if (!ok) {
                closeQuietly(socket);
            }
        }
    }

    /** The server's address, {@code host:port}. */
    public String server() {
        return server;
    }

    /**
     * Sets {@code key} to {@code value}, replacing any value and waking every request waiting for it.
     *
     * @throws IllegalArgumentException if the key is empty or over {@link RendezvousStore#MAX_KEY_BYTES}, or the
     *                                  value over {@link RendezvousStore#MAX_VALUE_BYTES}
     */
    public synchronized void set(String key, byte[] value) {
        byte[] keyBytes = RendezvousProtocol.keyBytes(key);
        RendezvousProtocol.checkValue(key, value);
        int status = request(SET, key, Duration.ZERO, () -> {
            out.writeByte(SET);
            RendezvousProtocol.writeBytes(out, keyBytes);
            RendezvousProtocol.writeBytes(out, value);
        });
        if (status != OK) {
            throw unexpected(SET, key, status);
        }
    }

    /**
     * The value of {@code key}, waiting until some rank sets it.
     *
     * @throws RendezvousTimeoutException if it is not set within {@code timeout}, naming the key and the time waited
     */
    public synchronized byte[] get(String key, Duration timeout) {
        byte[] keyBytes = RendezvousProtocol.keyBytes(key);
        long start = System.nanoTime();
        int status = request(GET, key, timeout, () -> {
            out.writeByte(GET);
            RendezvousProtocol.writeBytes(out, keyBytes);
            out.writeLong(timeout.toMillis());
        });
        return switch (status) {
            case OK -> io(GET, key, () -> RendezvousProtocol.readValue(in));
            case TIMEOUT -> throw keysTimeout(List.of(key), timeout, start);
            default -> throw unexpected(GET, key, status);
        };
    }

    /**
     * Waits until every key in {@code keys} is set.
     *
     * @throws RendezvousTimeoutException if some are still missing after {@code timeout}, naming them
     */
    public synchronized void waitFor(Collection<String> keys, Duration timeout) {
        if (keys.isEmpty()) {
            return;
        }
        if (keys.size() > RendezvousProtocol.MAX_WAIT_KEYS) {
            throw new IllegalArgumentException("waitFor takes at most " + RendezvousProtocol.MAX_WAIT_KEYS
                    + " keys, got " + keys.size());
        }
        List<byte[]> keyBytes = keys.stream().map(RendezvousProtocol::keyBytes).toList();
        String first = keys.iterator().next();
        long start = System.nanoTime();
        int status = request(WAIT, first, timeout, () -> {
            out.writeByte(WAIT);
            out.writeInt(keyBytes.size());
            for (byte[] key : keyBytes) {
                RendezvousProtocol.writeBytes(out, key);
            }
            out.writeLong(timeout.toMillis());
        });
        switch (status) {
            case OK -> {
            }
            case TIMEOUT -> {
                List<String> missing = io(WAIT, first, () -> {
                    int n = in.readInt();
                    if (n < 1 || n > keyBytes.size()) {
                        throw new RendezvousProtocol.ProtocolException("missing-key count " + n);
                    }
                    List<String> keysLeft = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        keysLeft.add(RendezvousProtocol.readKey(in));
                    }
                    return keysLeft;
                });
                throw keysTimeout(missing, timeout, start);
            }
            default -> throw unexpected(WAIT, first, status);
        }
    }

    /**
     * Atomically adds {@code delta} to the counter at {@code key} (absent counts as 0) and returns the new value.
     * The counter is stored as decimal text, so {@link #get} returns e.g. {@code "3"}.
     */
    public synchronized long add(String key, long delta) {
        byte[] keyBytes = RendezvousProtocol.keyBytes(key);
        int status = request(ADD, key, Duration.ZERO, () -> {
            out.writeByte(ADD);
            RendezvousProtocol.writeBytes(out, keyBytes);
            out.writeLong(delta);
        });
        if (status != OK) {
            throw unexpected(ADD, key, status);
        }
        return io(ADD, key, in::readLong);
    }

    /** Closes the connection; a call blocked in another thread fails. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            closeQuietly(socket);
        }
    }

    private interface IoAction<T> {
        T run() throws IOException;
    }

    private interface IoWrite {
        void run() throws IOException;
    }

    /**
     * Sends one request and reads the reply's status byte; the reply may take {@code serverWait} plus the I/O
     * timeout. A server ERROR becomes a {@link RendezvousException} carrying its message.
     */
    private int request(int op, String key, Duration serverWait, IoWrite write) {
        if (closed.get()) {
            throw new IllegalStateException("rendezvous client for " + server + " is closed: " + closedBecause);
        }
        if (serverWait.isNegative()) {
            throw new IllegalArgumentException("timeout " + serverWait + " must not be negative");
        }
        int status = io(op, key, () -> {
            socket.setSoTimeout(Math.toIntExact(Math.min(Integer.MAX_VALUE,
                    serverWait.toMillis() + ioTimeoutMillis)));
            write.run();
            out.flush();
            return in.readUnsignedByte();
        });
        if (status == ERROR) {
            String message = io(op, key, in::readUTF);
            throw fail(new RendezvousException("the rendezvous server at " + server + " rejected "
                    + RendezvousProtocol.opName(op) + " '" + RendezvousProtocol.preview(key) + "': " + message));
        }
        return status;
    }

    /** Runs one I/O step of a request, turning every I/O failure into a rendezvous exception that closes us. */
    private <T> T io(int op, String key, IoAction<T> action) {
        long start = System.nanoTime();
        String what = RendezvousProtocol.opName(op) + " '" + RendezvousProtocol.preview(key) + "'";
        try {
            return action.run();
        } catch (SocketTimeoutException e) {
            Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
            throw fail(new RendezvousTimeoutException("no reply from the rendezvous server at " + server + " to "
                    + what + " within " + millis(elapsed), List.of(key), elapsed));
        } catch (EOFException e) {
            throw fail(new RendezvousException("the rendezvous server at " + server + " closed the connection during "
                    + what + " after " + millis(Duration.ofNanos(System.nanoTime() - start)), e));
        } catch (IOException e) {
            throw fail(new RendezvousException(closed.get()
                    ? "rendezvous client for " + server + " was closed during " + what
                    : "connection to the rendezvous server at " + server + " failed during " + what + ": " + e, e));
        }
    }

    private RendezvousException keysTimeout(List<String> missing, Duration timeout, long start) {
        Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
        String keys = missing.size() == 1 ? "key '" + missing.getFirst() + "' was"
                : missing.size() + " keys were (" + String.join(", ", missing.subList(0, Math.min(8, missing.size())))
                + (missing.size() > 8 ? ", …" : "") + ")";
        return new RendezvousTimeoutException(keys + " not set on the rendezvous server at " + server + " within "
                + millis(timeout) + " (waited " + millis(elapsed) + ")", missing, elapsed);
    }

    private RendezvousException unexpected(int op, String key, int status) {
        return fail(new RendezvousException("the rendezvous server at " + server + " answered "
                + RendezvousProtocol.opName(op) + " '" + RendezvousProtocol.preview(key) + "' with unknown status "
                + status));
    }

    private RendezvousException fail(RendezvousException e) {
        if (!closed.get()) {
            closedBecause = "it failed earlier: " + e.getMessage();
        }
        close();
        return e;
    }

    private static String millis(Duration d) {
        return d.toMillis() + " ms";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RendezvousException("interrupted while connecting to the rendezvous server", e);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // the connection already failed; its first error is the one reported
        }
    }
}
