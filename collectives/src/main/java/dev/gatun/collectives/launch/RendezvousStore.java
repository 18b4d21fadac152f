package dev.gatun.collectives.launch;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * The job's rendezvous store as one rank sees it: rank 0 hosts the {@link RendezvousServer} on
 * {@code MASTER_PORT} of the address {@code MASTER_ADDR} names ({@link #bindAddress}: loopback for a local job) and
 * every rank, rank 0 included, connects a {@link RendezvousClient} to
 * {@code MASTER_ADDR:MASTER_PORT} with the job token. On top of the client sit the three patterns a launch needs:
 * {@link #exchange} (all-gather of small byte strings), {@link #barrier} and {@link #broadcastBytes} (rank 0's bytes
 * to all, e.g. the NCCL unique id under {@code "nccl-id/<group>"}).
 *
 * <p>Closing rank 0's store stops the server for everyone, so {@link #close()} on rank 0 first waits for every other
 * rank to close its own (each marks {@code gatun/left/<rank>} as it does).
 */
public final class RendezvousStore implements AutoCloseable {
    /** The longest key, in UTF-8 bytes. */
    public static final int MAX_KEY_BYTES = 1024;
    /** The largest value, in bytes (1 MiB). */
    public static final int MAX_VALUE_BYTES = 1 << 20;
    /** The longest job token, in UTF-8 bytes. */
    public static final int MAX_TOKEN_BYTES = 1024;

    private static final String LEFT = "gatun/left/";

    private final TorchrunEnvironment environment;
    private final RendezvousServer server;
    private final RendezvousClient client;
    private final Duration timeout;
    private boolean closed;

    private RendezvousStore(TorchrunEnvironment environment, RendezvousServer server, RendezvousClient client,
                            Duration timeout) {
        this.environment = environment;
        this.server = server;
        this.client = client;
        this.timeout = timeout;
    }

    /**
     * Opens this rank's view of the store: on rank 0 starts the server, then connects, retrying while rank 0's server
     * is not up yet.
     *
     * @param timeout bounds the connection and, on rank 0, {@link #close()}'s wait for the other ranks to leave
     * @throws RendezvousException if rank 0 cannot bind {@code MASTER_PORT} or the connection fails
     */
    public static RendezvousStore open(TorchrunEnvironment env, Duration timeout) {
        RendezvousServer server = env.rank() == 0 ? RendezvousServer.start(bindAddress(env), env.jobToken()) : null;
        boolean ok = false;
        try {
            RendezvousClient client =
                    RendezvousClient.connect(env.masterAddr(), env.masterPort(), env.jobToken(), timeout);
            ok = true;
            return new RendezvousStore(env, server, client, timeout);
        } finally {
            if (!ok && server != null) {
                server.close();
            }
        }
    }

    /**
     * Where rank 0's server listens: on {@code MASTER_ADDR} itself when that is an address of this machine (a
     * loopback address for a local job, so no other host can connect), else on every interface (the name reaches
     * this host through DNS or NAT that the machine cannot see). Never blocks for long: a name that does not
     * resolve listens on every interface, and connecting then says what failed.
     */
    public static InetSocketAddress bindAddress(TorchrunEnvironment env) {
        try {
            InetAddress address = InetAddress.getByName(env.masterAddr());
            if (address.isLoopbackAddress() || NetworkInterface.getByInetAddress(address) != null) {
                return new InetSocketAddress(address, env.masterPort());
            }
        } catch (UnknownHostException | SocketException e) {
            // not an address of this machine that Java can see: listen everywhere
        }
        return new InetSocketAddress(env.masterPort());
    }

    /**
     * On rank 0, a warning when its server would listen beyond loopback with no job token (any host that reaches the
     * port could read and write the job's keys); empty otherwise.
     */
    public static Optional<String> exposureWarning(TorchrunEnvironment env) {
        if (env.rank() != 0 || !env.jobToken().isEmpty()) {
            return Optional.empty();
        }
        InetSocketAddress bind = bindAddress(env);
        if (!bind.getAddress().isAnyLocalAddress() && bind.getAddress().isLoopbackAddress()) {
            return Optional.empty();
        }
        return Optional.of("the rendezvous store listens on " + (bind.getAddress().isAnyLocalAddress()
                ? "every interface" : bind.getAddress().getHostAddress()) + ", port " + env.masterPort()
                + ", with no job token: any host that reaches it can join this job; set "
                + TorchrunEnvironment.JOB_TOKEN + " to the same secret in every rank's environment (gatun launch "
                + "makes one itself), or MASTER_ADDR=127.0.0.1 for a job on this machine only");
    }

    /** Where this rank's server listens (rank 0), or empty on the other ranks. */
    public Optional<InetSocketAddress> serverAddress() {
        return Optional.ofNullable(server).map(RendezvousServer::address);
    }

    /** The launch environment this store was opened with. */
    public TorchrunEnvironment environment() {
        return environment;
    }

    /** This rank's connection to the server. */
    public RendezvousClient client() {
        return client;
    }

    /** Whether this rank hosts the server (rank 0). */
    public boolean hostsServer() {
        return server != null;
    }

    /**
     * Leaves the store: marks this rank as gone and closes the connection. Rank 0 first waits (up to the timeout
     * given to {@link #open}) until every rank has left, then stops the server, so no rank still waiting for a key
     * loses it. Idempotent.
     *
     * @throws RendezvousTimeoutException on rank 0, after stopping the server, naming the ranks that had not left
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            client.set(LEFT + environment.rank(), new byte[0]);
            if (server != null) {
                awaitDepartures();
            }
        } finally {
            client.close();
            if (server != null) {
                server.close();
            }
        }
    }

    private void awaitDepartures() {
        List<String> keys = IntStream.range(0, environment.worldSize()).mapToObj(r -> LEFT + r).toList();
        try {
            client.waitFor(keys, timeout);
        } catch (RendezvousTimeoutException e) {
            List<String> ranks = e.missingKeys().stream().map(k -> k.substring(LEFT.length())).toList();
            throw new RendezvousTimeoutException("rank 0 stopped the rendezvous server while ranks " + ranks
                    + " had not closed their store within " + timeout.toMillis() + " ms", e.missingKeys(),
                    e.elapsed());
        }
    }

    /**
     * All-gather of one small value per rank: rank {@code r} sets {@code key/r}, then waits for every rank's. Use a
     * fresh key per exchange: keys are never deleted, so a reused one returns the old values.
     *
     * @return the values indexed by rank
     * @throws RendezvousTimeoutException naming the keys (so the ranks) still missing after {@code timeout}
     */
    public static List<byte[]> exchange(RendezvousClient client, int rank, int worldSize, String key, byte[] mine,
                                        Duration timeout) {
        checkRank(rank, worldSize);
        List<String> keys = new ArrayList<>();
        for (int r = 0; r < worldSize; r++) {
            keys.add(key + "/" + r);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        client.set(keys.get(rank), mine);
        client.waitFor(keys, timeout);
        List<byte[]> values = new ArrayList<>();
        for (String k : keys) {
            values.add(client.get(k, Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))));
        }
        return values;
    }

    /**
     * Returns once all {@code worldSize} ranks have called it with this {@code name}. Reusable: the {@code k}-th call
     * of every rank forms generation {@code k}. Counts arrivals with {@link RendezvousClient#add}; the last to
     * arrive sets {@code name/done/<generation>}, which the others wait for.
     *
     * @throws RendezvousTimeoutException saying how many ranks had arrived when {@code timeout} ran out
     */
    public static void barrier(RendezvousClient client, String name, int worldSize, Duration timeout) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize=" + worldSize + " must be >= 1");
        }
        String counter = name + "/arrived";
        long arrived = client.add(counter, 1);
        long generation = (arrived - 1) / worldSize;
        String done = name + "/done/" + generation;
        if (arrived % worldSize == 0) {
            client.set(done, new byte[0]);
        }
        try {
            client.get(done, timeout);
        } catch (RendezvousTimeoutException e) {
            long total;
            try {
                total = Long.parseLong(new String(client.get(counter, Duration.ZERO), StandardCharsets.UTF_8));
            } catch (RuntimeException unreadable) { // the server stopped answering: the first error says it all
                e.addSuppressed(unreadable);
                throw e;
            }
            long here = Math.min(worldSize, total - generation * worldSize);
            throw new RendezvousTimeoutException("barrier '" + name + "' (generation " + generation + "): only "
                    + here + " of " + worldSize + " ranks arrived within " + timeout.toMillis() + " ms",
                    e.missingKeys(), e.elapsed());
        }
    }

    /**
     * Rank 0's bytes to every rank: rank 0 computes them with {@code onRoot} and sets {@code key}; the others wait
     * for it. This is how ranks share an NCCL unique id ({@code key = "nccl-id/<group>"}, 128 bytes). Only rank 0
     * calls {@code onRoot}.
     *
     * @throws RendezvousTimeoutException on a rank other than 0 if {@code key} is not set within {@code timeout}
     */
    public static byte[] broadcastBytes(RendezvousClient client, int rank, String key, Supplier<byte[]> onRoot,
                                        Duration timeout) {
        if (rank < 0) {
            throw new IllegalArgumentException("rank=" + rank + " must be >= 0");
        }
        if (rank != 0) {
            return client.get(key, timeout);
        }
        byte[] bytes = onRoot.get();
        client.set(key, bytes);
        return bytes;
    }

    private static void checkRank(int rank, int worldSize) {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank=" + rank + " must be in [0, worldSize=" + worldSize + ")");
        }
    }
}
