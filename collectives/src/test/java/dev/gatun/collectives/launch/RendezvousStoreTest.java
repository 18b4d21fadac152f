package dev.gatun.collectives.launch;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The helpers on top of the client, with one thread (and one client) per rank. */
@Timeout(20)
class RendezvousStoreTest {
    private static final String TOKEN = "store-test";
    private static final Duration LONG = Duration.ofSeconds(10);

    private RendezvousServer server;
    private final List<RendezvousClient> clients = new ArrayList<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeEach
    void start() {
        server = RendezvousServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), TOKEN);
    }

    @AfterEach
    void stop() throws InterruptedException {
        clients.forEach(RendezvousClient::close);
        server.close();
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(5, TimeUnit.SECONDS));
    }

    private RendezvousClient client() {
        RendezvousClient client = RendezvousClient.connect("127.0.0.1", server.port(), TOKEN, LONG);
        clients.add(client);
        return client;
    }

    interface RankBody<T> {
        T run(RendezvousClient client, int rank) throws Exception;
    }

    /** Runs {@code body} as {@code n} ranks at once, each with its own client; returns their results by rank. */
    private <T> List<T> ranks(int n, RankBody<T> body) throws Exception {
        List<Future<T>> futures = new ArrayList<>();
        for (int rank = 0; rank < n; rank++) {
            RendezvousClient client = client();
            int r = rank;
            futures.add(pool.submit(() -> body.run(client, r)));
        }
        List<T> results = new ArrayList<>();
        for (Future<T> f : futures) {
            results.add(f.get(15, TimeUnit.SECONDS));
        }
        return results;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void exchangeGivesEveryRankEveryValueInRankOrder() throws Exception {
        int n = 4;
        List<List<byte[]>> seen = ranks(n, (client, rank) ->
                RendezvousStore.exchange(client, rank, n, "hosts", utf8("host-" + rank), LONG));
        for (List<byte[]> values : seen) {
            assertEquals(List.of("host-0", "host-1", "host-2", "host-3"),
                    values.stream().map(v -> new String(v, StandardCharsets.UTF_8)).toList());
        }
    }

    @Test
    void exchangeTimeoutNamesTheAbsentRanksKeys() {
        var e = assertThrows(RendezvousTimeoutException.class, () -> RendezvousStore.exchange(client(), 1, 3,
                "addr", utf8("me"), Duration.ofMillis(150)));
        assertEquals(List.of("addr/0", "addr/2"), e.missingKeys());
    }

    @Test
    void barrierHoldsEveryRankUntilAllArriveAndIsReusable() throws Exception {
        int n = 3;
        int rounds = 4;
        AtomicInteger arrivals = new AtomicInteger();
        List<Boolean> ok = ranks(n, (client, rank) -> {
            boolean fine = true;
            for (int round = 0; round < rounds; round++) {
                if (rank == round % n) {
                    Thread.sleep(30); // a late rank: nobody may pass before it arrives
                }
                arrivals.incrementAndGet();
                RendezvousStore.barrier(client, "step", n, LONG);
                fine &= arrivals.get() >= (round + 1) * n;
            }
            return fine;
        });
        assertEquals(List.of(true, true, true), ok);
    }

    @Test
    void barrierTimeoutSaysHowManyArrived() throws Exception {
        List<String> messages = ranks(2, (client, rank) -> assertThrows(RendezvousTimeoutException.class,
                () -> RendezvousStore.barrier(client, "init", 3, Duration.ofMillis(300))).getMessage());
        for (String message : messages) {
            assertEquals("barrier 'init' (generation 0): only 2 of 3 ranks arrived within 300 ms", message);
        }
    }

    @Test
    void broadcastBytesSharesRankZerosIdAndCallsTheSupplierOnlyThere() throws Exception {
        byte[] id = new byte[128];
        new Random().nextBytes(id);
        AtomicInteger calls = new AtomicInteger();
        List<byte[]> got = ranks(4, (client, rank) -> RendezvousStore.broadcastBytes(client, rank, "nccl-id/dp0",
                () -> {
                    calls.incrementAndGet();
                    return id.clone();
                }, LONG));
        for (byte[] bytes : got) {
            assertArrayEquals(id, bytes);
        }
        assertEquals(1, calls.get());
    }

    @Test
    void openHostsTheServerOnRankZeroAndConnectsEveryRank() throws Exception {
        int port;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        int n = 3;
        List<String> seen = new ArrayList<>();
        List<Future<String>> futures = new ArrayList<>();
        for (int rank = n - 1; rank >= 0; rank--) { // rank 0 last: the others must retry until it is up
            var env = new TorchrunEnvironment(rank, n, rank, n, "127.0.0.1", port, "open-test");
            futures.add(pool.submit(() -> {
                try (RendezvousStore store = RendezvousStore.open(env, LONG)) {
                    assertEquals(env.rank() == 0, store.hostsServer());
                    byte[] id = RendezvousStore.broadcastBytes(store.client(), env.rank(), "nccl-id/world",
                            () -> utf8("id-from-0"), LONG);
                    return new String(id, StandardCharsets.UTF_8);
                }
            }));
        }
        for (Future<String> f : futures) {
            seen.add(f.get(15, TimeUnit.SECONDS));
        }
        assertEquals(List.of("id-from-0", "id-from-0", "id-from-0"), seen);
        assertFalse(portInUse(port), "rank 0's close released MASTER_PORT");
    }

    @Test
    void rankZerosCloseNamesTheRanksThatNeverLeft() throws IOException {
        int port;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        var host = RendezvousStore.open(new TorchrunEnvironment(0, 3, 0, 3, "127.0.0.1", port, "t"),
                Duration.ofMillis(300));
        var rank1 = RendezvousStore.open(new TorchrunEnvironment(1, 3, 1, 3, "127.0.0.1", port, "t"), LONG);
        rank1.close();
        var e = assertThrows(RendezvousTimeoutException.class, host::close);
        assertEquals("rank 0 stopped the rendezvous server while ranks [2] had not closed their store within 300 ms",
                e.getMessage());
        assertFalse(portInUse(port), "the server stopped all the same");
        host.close(); // idempotent
    }

    private static boolean portInUse(int port) {
        try (var socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void aLocalJobListensOnLoopbackOnlyAndNeedsNoToken() throws IOException {
        int port;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        var env = new TorchrunEnvironment(0, 1, 0, 1, "127.0.0.1", port, "");
        assertTrue(RendezvousStore.bindAddress(env).getAddress().isLoopbackAddress());
        assertEquals(Optional.empty(), RendezvousStore.exposureWarning(env));
        try (var store = RendezvousStore.open(env, LONG)) {
            var bound = store.serverAddress().orElseThrow();
            assertTrue(bound.getAddress().isLoopbackAddress(), "bound to " + bound);
            for (InetAddress other : nonLoopbackAddresses()) { // this machine's other addresses cannot reach it
                try (var socket = new Socket()) {
                    assertThrows(IOException.class, () -> socket.connect(new InetSocketAddress(other, port), 2000),
                            "reachable on " + other);
                }
            }
        }
    }

    @Test
    void listeningBeyondLoopbackWithoutATokenIsWarnedAboutWithTheFix() throws IOException {
        var everywhere = new TorchrunEnvironment(0, 2, 0, 1, "node-that-does-not-resolve.invalid", 29500, "");
        assertTrue(RendezvousStore.bindAddress(everywhere).getAddress().isAnyLocalAddress());
        String warning = RendezvousStore.exposureWarning(everywhere).orElseThrow();
        assertTrue(warning.contains("every interface") && warning.contains(TorchrunEnvironment.JOB_TOKEN), warning);
        var withToken = new TorchrunEnvironment(0, 2, 0, 1, "node-that-does-not-resolve.invalid", 29500, "s3cret");
        assertEquals(Optional.empty(), RendezvousStore.exposureWarning(withToken));
        var otherRank = new TorchrunEnvironment(1, 2, 0, 1, "node-that-does-not-resolve.invalid", 29500, "");
        assertEquals(Optional.empty(), RendezvousStore.exposureWarning(otherRank), "only rank 0 listens");
        for (InetAddress own : nonLoopbackAddresses()) { // an address of this machine: listen there only, and warn
            var env = new TorchrunEnvironment(0, 2, 0, 1, own.getHostAddress(), 29500, "");
            assertEquals(own, RendezvousStore.bindAddress(env).getAddress());
            assertTrue(RendezvousStore.exposureWarning(env).orElseThrow().contains(own.getHostAddress()));
        }
    }

    private static List<InetAddress> nonLoopbackAddresses() throws IOException {
        List<InetAddress> addresses = new ArrayList<>();
        for (var nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (nic.isUp() && !nic.isLoopback()) {
                Collections.list(nic.getInetAddresses()).stream()
                        .filter(a -> a instanceof Inet4Address).forEach(addresses::add);
            }
        }
        return addresses;
    }
}
