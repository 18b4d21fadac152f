package dev.gatun.collectives.launch;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class RendezvousClientTest {
    static final String TOKEN = "job-token-1";
    static final Duration SECOND = Duration.ofSeconds(1);
    static final Duration LONG = Duration.ofSeconds(10);

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

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        new Random().nextBytes(bytes);
        return bytes;
    }

    @Test
    void setThenGetAcrossClients() {
        byte[] value = randomBytes(1000);
        client().set("a", value);
        assertArrayEquals(value, client().get("a", SECOND));
        client().set("a", new byte[0]);
        assertArrayEquals(new byte[0], client().get("a", SECOND));
    }

    @Test
    void getWaitsUntilAnotherClientSetsTheKey() throws Exception {
        RendezvousClient waiter = client();
        RendezvousClient setter = client();
        Future<byte[]> got = pool.submit(() -> waiter.get("late", LONG));
        Thread.sleep(200);
        assertTrue(!got.isDone(), "get returned before the key was set");
        setter.set("late", "here".getBytes(StandardCharsets.UTF_8));
        assertEquals("here", new String(got.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8));
    }

    @Test
    void addIsAtomicAcrossThreads() throws Exception {
        int threads = 4;
        int adds = 50;
        Set<Long> seen = new ConcurrentSkipListSet<>();
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            RendezvousClient client = client();
            futures.add(pool.submit(() -> {
                for (int i = 0; i < adds; i++) {
                    seen.add(client.add("counter", 1));
                }
            }));
        }
        for (Future<?> f : futures) {
            f.get(10, TimeUnit.SECONDS);
        }
        Set<Long> expected = new TreeSet<>();
        for (long v = 1; v <= threads * adds; v++) {
            expected.add(v);
        }
        assertEquals(expected, seen);
        assertEquals("200", new String(client().get("counter", SECOND), StandardCharsets.UTF_8));
        assertEquals(190, client().add("counter", -10));
    }

    @Test
    void waitForReturnsOnceEveryKeyIsSet() throws Exception {
        RendezvousClient waiter = client();
        Future<?> waited = pool.submit(() -> waiter.waitFor(List.of("k/0", "k/1", "k/2"), LONG));
        RendezvousClient setter = client();
        setter.set("k/0", new byte[1]);
        setter.set("k/2", new byte[1]);
        Thread.sleep(100);
        assertTrue(!waited.isDone());
        setter.set("k/1", new byte[1]);
        waited.get(5, TimeUnit.SECONDS);
    }

    @Test
    void getOfAMissingKeyTimesOutNamingTheKeyAndLeavesTheClientUsable() {
        RendezvousClient client = client();
        var e = assertThrows(RendezvousTimeoutException.class, () -> client.get("nccl-id/tp0", Duration.ofMillis(200)));
        assertTrue(e.getMessage().startsWith("key 'nccl-id/tp0' was not set on the rendezvous server at 127.0.0.1:"
                + server.port() + " within 200 ms (waited "), e.getMessage());
        assertEquals(List.of("nccl-id/tp0"), e.missingKeys());
        assertTrue(e.elapsed().toMillis() >= 200, e.elapsed().toString());
        client.set("x", new byte[]{7});
        assertArrayEquals(new byte[]{7}, client.get("x", SECOND));
    }

    @Test
    void waitForTimeoutNamesTheMissingKeys() {
        RendezvousClient client = client();
        client.set("w/1", new byte[0]);
        var e = assertThrows(RendezvousTimeoutException.class,
                () -> client.waitFor(List.of("w/0", "w/1", "w/2"), Duration.ofMillis(100)));
        assertEquals(List.of("w/0", "w/2"), e.missingKeys());
        assertTrue(e.getMessage().startsWith("2 keys were (w/0, w/2) not set"), e.getMessage());
    }

    @Test
    void wrongTokenIsRefused() {
        client().set("secret", new byte[]{1, 2, 3});
        var e = assertThrows(RendezvousException.class,
                () -> RendezvousClient.connect("127.0.0.1", server.port(), "other-job", LONG));
        assertEquals("the rendezvous server at 127.0.0.1:" + server.port()
                + " refused this job token; every rank must see the same GATUN_JOB_TOKEN", e.getMessage());
        assertArrayEquals(new byte[]{1, 2, 3}, client().get("secret", SECOND));
    }

    @Test
    void oversizedKeysAndValuesAreRejectedBeforeSending() {
        RendezvousClient client = client();
        var key = assertThrows(IllegalArgumentException.class, () -> client.set("k".repeat(1025), new byte[1]));
        assertTrue(key.getMessage().startsWith("key of 1025 bytes exceeds the limit of 1024 bytes: 'kkk"),
                key.getMessage());
        var value = assertThrows(IllegalArgumentException.class,
                () -> client.set("big", new byte[RendezvousStore.MAX_VALUE_BYTES + 1]));
        assertEquals("value for key 'big' has 1048577 bytes, over the limit of 1048576 bytes (1 MiB)",
                value.getMessage());
        assertThrows(IllegalArgumentException.class, () -> client.get("", SECOND));
        client.set("k".repeat(1024), new byte[RendezvousStore.MAX_VALUE_BYTES]);
        assertEquals(RendezvousStore.MAX_VALUE_BYTES, client.get("k".repeat(1024), SECOND).length);
    }

    @Test
    void serverErrorClosesTheClientWithTheReason() {
        RendezvousClient client = client();
        client.set("text", "abc".getBytes(StandardCharsets.UTF_8));
        var e = assertThrows(RendezvousException.class, () -> client.add("text", 1));
        assertTrue(e.getMessage().endsWith("rejected ADD 'text': key 'text' holds a 3-byte value that is not a "
                + "decimal counter"), e.getMessage());
        var after = assertThrows(IllegalStateException.class, () -> client.get("text", SECOND));
        assertTrue(after.getMessage().contains("is closed: it failed earlier: "), after.getMessage());
    }

    @Test
    void connectRetriesUntilTheServerIsUp() throws Exception {
        int port;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Future<RendezvousClient> connecting =
                pool.submit(() -> RendezvousClient.connect("127.0.0.1", port, TOKEN, LONG));
        Thread.sleep(300);
        try (var late = RendezvousServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), TOKEN);
             var client = connecting.get(5, TimeUnit.SECONDS)) {
            client.set("up", new byte[0]);
            assertEquals(late.port(), port);
        }
    }

    @Test
    void connectGivesUpAtTheDeadlineNamingTheAddress() throws IOException {
        int port;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        var e = assertThrows(RendezvousTimeoutException.class,
                () -> RendezvousClient.connect("127.0.0.1", port, TOKEN, Duration.ofMillis(300)));
        assertTrue(e.getMessage().startsWith("could not connect to the rendezvous server at 127.0.0.1:" + port
                + " within "), e.getMessage());
        // The last attempt is refused, or cut short by the deadline on a loaded machine: either way it is named.
        assertTrue(e.getMessage().contains("Connection refused") || e.getMessage().contains("SocketTimeoutException"),
                e.getMessage());
    }

    @Test
    void aServerThatNeverAnswersTimesOut() throws IOException {
        try (var silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Future<Socket> accepted = pool.submit(silent::accept);
            var e = assertThrows(RendezvousTimeoutException.class, () -> RendezvousClient.connect("127.0.0.1",
                    silent.getLocalPort(), TOKEN, LONG, Duration.ofMillis(200)));
            assertEquals("the rendezvous server at 127.0.0.1:" + silent.getLocalPort()
                    + " did not answer the hello within 200 ms", e.getMessage());
            accepted.cancel(true);
        }
    }
}
