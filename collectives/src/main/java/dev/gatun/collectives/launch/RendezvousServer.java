package dev.gatun.collectives.launch;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import static dev.gatun.collectives.launch.RendezvousProtocol.ADD;
import static dev.gatun.collectives.launch.RendezvousProtocol.ERROR;
import static dev.gatun.collectives.launch.RendezvousProtocol.GET;
import static dev.gatun.collectives.launch.RendezvousProtocol.MAGIC;
import static dev.gatun.collectives.launch.RendezvousProtocol.MAX_WAIT_KEYS;
import static dev.gatun.collectives.launch.RendezvousProtocol.OK;
import static dev.gatun.collectives.launch.RendezvousProtocol.REFUSED;
import static dev.gatun.collectives.launch.RendezvousProtocol.SET;
import static dev.gatun.collectives.launch.RendezvousProtocol.TIMEOUT;
import static dev.gatun.collectives.launch.RendezvousProtocol.VERSION;
import static dev.gatun.collectives.launch.RendezvousProtocol.WAIT;

/**
 * The job's key-value store, hosted by rank 0 on {@code MASTER_ADDR:MASTER_PORT}, like
 * {@code torch.distributed.TCPStore}'s master. Ranks reach it through {@link RendezvousClient}; the wire format is
 * described in {@code RendezvousProtocol}.
 *
 * <p>Every connection must first present the job token; a wrong one is answered "refused" and closed before it can
 * read or write a key. A connection that breaks the protocol (bad magic, a length over its limit, an unknown
 * operation) or stalls mid-message for longer than the I/O timeout is closed without affecting the others, and no
 * length is trusted before it is checked against its limit. Keys are never deleted.
 *
 * <p>One virtual thread serves each connection, one daemon thread accepts. {@link #close()} stops accepting, fails
 * every request still waiting for a missing key (its client sees the connection close), ends every connection, waits
 * for those threads to end, and releases the port.
 */
public final class RendezvousServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RendezvousServer.class.getName());
    private static final Duration DEFAULT_IO_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration SHUTDOWN_WAIT = Duration.ofSeconds(5);
    private static final Duration GRACEFUL_WAIT = Duration.ofSeconds(1);

    private final ServerSocket serverSocket;
    private final byte[] token;
    private final int ioTimeoutMillis;
    private final Thread acceptor;
    private final Set<Thread> handlers = ConcurrentHashMap.newKeySet();

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<String, byte[]> values = new HashMap<>();
    private final Set<Socket> connections = new HashSet<>();
    private boolean closed;

    /** The server went away while a request waited. */
    private static final class ServerClosedException extends IOException {
        ServerClosedException() {
            super("rendezvous server closed");
        }
    }

    private RendezvousServer(ServerSocket serverSocket, byte[] token, Duration ioTimeout) {
        this.serverSocket = serverSocket;
        this.token = token;
        this.ioTimeoutMillis = Math.toIntExact(Math.max(1, ioTimeout.toMillis()));
        this.acceptor = Thread.ofPlatform().daemon().name("gatun-rendezvous-" + port() + "-accept")
                .unstarted(this::acceptLoop);
    }

    /** {@link #start(InetSocketAddress, String, Duration)} with a 30 s I/O timeout. */
    public static RendezvousServer start(InetSocketAddress bindAddress, String token) {
        return start(bindAddress, token, DEFAULT_IO_TIMEOUT);
    }

    /**
     * Binds and starts serving.
     *
     * @param bindAddress where to listen; port 0 picks a free port ({@link #port()} tells which)
     * @param token       the job token every client must present; may be empty
     * @param ioTimeout   how long a connection may take to finish its hello or a message it has begun
     * @throws RendezvousException if the address cannot be bound
     */
    public static RendezvousServer start(InetSocketAddress bindAddress, String token, Duration ioTimeout) {
        ServerSocket serverSocket = null;
        boolean ok = false;
        try {
            serverSocket = new ServerSocket();
            serverSocket.setReuseAddress(true);
            serverSocket.bind(bindAddress, 1024);
            RendezvousServer server =
                    new RendezvousServer(serverSocket, token.getBytes(StandardCharsets.UTF_8), ioTimeout);
            server.acceptor.start();
            ok = true;
            return server;
        } catch (IOException e) {
            throw new RendezvousException("could not bind the rendezvous server to " + bindAddress + ": "
                    + e.getMessage() + "; is another job using this port? Choose another MASTER_PORT", e);
        } finally {
            if (!ok && serverSocket != null) {
                closeQuietly(serverSocket);
            }
        }
    }

    /** The port the server listens on. */
    public int port() {
        return serverSocket.getLocalPort();
    }

    /** The address the server listens on. */
    public InetSocketAddress address() {
        return new InetSocketAddress(serverSocket.getInetAddress(), port());
    }

    /** The threads of this server still alive (acceptor and connections); 0 after {@link #close()}. */
    int liveThreads() {
        int live = acceptor.isAlive() ? 1 : 0;
        for (Thread handler : handlers) {
            live += handler.isAlive() ? 1 : 0;
        }
        return live;
    }

    /**
     * Stops the server. It stops accepting; a waiting request whose keys are set by now still gets its answer, the
     * other waiting ones fail (their clients see the connection close); every connection ends once its current reply
     * is written, or is closed after a second; then waits up to 5 s for the server's threads and releases the port.
     * Idempotent.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        closeQuietly(serverSocket);
        try {
            acceptor.join(SHUTDOWN_WAIT);
            // Reading ends at once (an idle connection sees end-of-stream); replies being written still go out.
            openConnections().forEach(RendezvousServer::shutdownInputQuietly);
            joinHandlers(GRACEFUL_WAIT);
            openConnections().forEach(RendezvousServer::closeQuietly);
            joinHandlers(SHUTDOWN_WAIT);
        } catch (InterruptedException e) {
            openConnections().forEach(RendezvousServer::closeQuietly);
            Thread.currentThread().interrupt();
        }
    }

    private List<Socket> openConnections() {
        lock.lock();
        try {
            return new ArrayList<>(connections);
        } finally {
            lock.unlock();
        }
    }

    private void joinHandlers(Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        for (Thread handler : List.copyOf(handlers)) {
            handler.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        }
    }

    private void acceptLoop() {
        long count = 0;
        while (!serverSocket.isClosed()) {
            Socket socket;
            try {
                socket = serverSocket.accept();
            } catch (IOException e) {
                if (!serverSocket.isClosed()) {
                    // Typically out of file descriptors: back off instead of spinning, and keep serving.
                    LOG.log(System.Logger.Level.WARNING, "rendezvous server on port " + port() + ": accept failed", e);
                    sleepQuietly();
                }
                continue;
            }
            lock.lock();
            try {
                if (closed) {
                    closeQuietly(socket);
                    return;
                }
                connections.add(socket);
            } finally {
                lock.unlock();
            }
            Thread handler = Thread.ofVirtual().name("gatun-rendezvous-" + port() + "-conn-" + count++)
                    .unstarted(() -> serve(socket));
            handlers.add(handler);
            handler.start();
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(ioTimeoutMillis);
            var in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            var out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
            try {
                if (handshake(socket, in, out)) {
                    converse(socket, in, out);
                }
            } catch (RendezvousProtocol.ProtocolException e) {
                LOG.log(System.Logger.Level.WARNING, "rendezvous server on port " + port() + ": closing the connection from "
                        + socket.getRemoteSocketAddress() + ": " + e.getMessage());
                out.writeByte(ERROR);
                out.writeUTF(e.getMessage());
                out.flush();
            }
        } catch (IOException e) {
            // The peer went away, stalled past the I/O timeout, or the server closed: this connection ends, the
            // others go on. The client side reports it.
            LOG.log(System.Logger.Level.DEBUG, "rendezvous connection " + socket.getRemoteSocketAddress() + " ended", e);
        } finally {
            lock.lock();
            try {
                connections.remove(socket);
            } finally {
                lock.unlock();
            }
            handlers.remove(Thread.currentThread());
        }
    }

    private boolean handshake(Socket socket, DataInputStream in, DataOutputStream out) throws IOException {
        int magic = in.readInt();
        if (magic != MAGIC) {
            LOG.log(System.Logger.Level.WARNING, "rendezvous server on port " + port() + ": closed a connection from "
                    + socket.getRemoteSocketAddress() + " that is not a rendezvous client");
            return false;
        }
        int version = in.readInt();
        if (version != VERSION) {
            throw new RendezvousProtocol.ProtocolException("protocol version " + version
                    + " is not supported; this server speaks version " + VERSION);
        }
        byte[] presented = RendezvousProtocol.readBytes(in, 0, RendezvousStore.MAX_TOKEN_BYTES, "token");
        if (!MessageDigest.isEqual(presented, token)) {
            LOG.log(System.Logger.Level.WARNING, "rendezvous server on port " + port() + ": refused a connection from "
                    + socket.getRemoteSocketAddress() + ": wrong job token");
            out.writeByte(REFUSED);
            out.flush();
            return false;
        }
        out.writeByte(OK);
        out.flush();
        return true;
    }

    private void converse(Socket socket, DataInputStream in, DataOutputStream out) throws IOException {
        while (true) {
            socket.setSoTimeout(0); // an authenticated client may stay idle between requests
            int op = in.read();
            if (op < 0) {
                return;
            }
            socket.setSoTimeout(ioTimeoutMillis);
            switch (op) {
                case SET -> {
                    String key = RendezvousProtocol.readKey(in);
                    byte[] value = RendezvousProtocol.readValue(in);
                    put(key, value);
                    out.writeByte(OK);
                }
                case GET -> {
                    String key = RendezvousProtocol.readKey(in);
                    long timeoutMillis = readTimeout(in);
                    if (await(List.of(key), timeoutMillis).isEmpty()) {
                        out.writeByte(OK);
                        RendezvousProtocol.writeBytes(out, valueOf(key));
                    } else {
                        out.writeByte(TIMEOUT);
                    }
                }
                case ADD -> {
                    String key = RendezvousProtocol.readKey(in);
                    long sum = add(key, in.readLong());
                    out.writeByte(OK);
                    out.writeLong(sum);
                }
                case WAIT -> {
                    int n = in.readInt();
                    if (n < 1 || n > MAX_WAIT_KEYS) {
                        throw new RendezvousProtocol.ProtocolException("WAIT key count " + n + " outside [1, "
                                + MAX_WAIT_KEYS + "]");
                    }
                    List<String> keys = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        keys.add(RendezvousProtocol.readKey(in));
                    }
                    List<String> missing = await(keys, readTimeout(in));
                    if (missing.isEmpty()) {
                        out.writeByte(OK);
                    } else {
                        out.writeByte(TIMEOUT);
                        out.writeInt(missing.size());
                        for (String key : missing) {
                            RendezvousProtocol.writeBytes(out, key.getBytes(StandardCharsets.UTF_8));
                        }
                    }
                }
                default -> throw new RendezvousProtocol.ProtocolException("unknown operation " + op);
            }
            out.flush();
        }
    }

    private static long readTimeout(DataInputStream in) throws IOException {
        long millis = in.readLong();
        if (millis < 0) {
            throw new RendezvousProtocol.ProtocolException("negative timeout " + millis + " ms");
        }
        return millis;
    }

    private void put(String key, byte[] value) {
        lock.lock();
        try {
            values.put(key, value);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private byte[] valueOf(String key) {
        lock.lock();
        try {
            return values.get(key);
        } finally {
            lock.unlock();
        }
    }

    /** Adds to the decimal counter at {@code key} (absent counts as 0), like TCPStore's {@code add}. */
    private long add(String key, long delta) throws RendezvousProtocol.ProtocolException {
        lock.lock();
        try {
            byte[] current = values.get(key);
            long sum;
            try {
                long before = current == null ? 0 : Long.parseLong(new String(current, StandardCharsets.UTF_8));
                sum = Math.addExact(before, delta);
            } catch (NumberFormatException e) {
                throw new RendezvousProtocol.ProtocolException("key '" + RendezvousProtocol.preview(key)
                        + "' holds a " + current.length + "-byte value that is not a decimal counter");
            } catch (ArithmeticException e) {
                throw new RendezvousProtocol.ProtocolException("counter '" + RendezvousProtocol.preview(key)
                        + "' overflows adding " + delta);
            }
            values.put(key, Long.toString(sum).getBytes(StandardCharsets.UTF_8));
            changed.signalAll();
            return sum;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until every key is set or the time is up; returns the keys still missing. */
    private List<String> await(List<String> keys, long timeoutMillis) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        lock.lock();
        try {
            while (true) {
                List<String> missing = keys.stream().filter(k -> !values.containsKey(k)).toList();
                if (missing.isEmpty()) {
                    return missing;
                }
                if (closed) {
                    throw new ServerClosedException();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return missing;
                }
                changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            throw new InterruptedIOException("rendezvous request interrupted");
        } finally {
            lock.unlock();
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void shutdownInputQuietly(Socket socket) {
        try {
            socket.shutdownInput();
        } catch (IOException ignored) {
            // already closed by its handler
        }
    }

    /** Closing on shutdown or on an already-failed connection: nothing useful to do with a second failure. */
    private static void closeQuietly(Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException ignored) {
            // already failing or shutting down
        }
    }
}
