package dev.gatun.collectives.launch;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server against raw sockets that break the protocol, and its shutdown. */
@Timeout(20)
class RendezvousServerTest {
    private static final String TOKEN = "t0k3n";
    private static final Duration IO_TIMEOUT = Duration.ofMillis(300);

    private RendezvousServer server;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeEach
    void start() {
        server = RendezvousServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), TOKEN, IO_TIMEOUT);
    }

    @AfterEach
    void stop() throws InterruptedException {
        server.close();
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(5, TimeUnit.SECONDS));
    }

    private Socket raw() throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), server.port());
        socket.setSoTimeout(5_000);
        return socket;
    }

    private static void hello(DataOutputStream out, String token) throws IOException {
        out.writeInt(RendezvousProtocol.MAGIC);
        out.writeInt(RendezvousProtocol.VERSION);
        RendezvousProtocol.writeBytes(out, token.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Reads until the server closes the connection; a reset (unread bytes on the server side) counts as closed. */
    private static void assertClosedByServer(DataInputStream in) throws IOException {
        try {
            while (in.read() >= 0) {
                // skip whatever came before the close
            }
        } catch (SocketException reset) {
            assertTrue(reset.getMessage().contains("reset"), reset.getMessage());
        }
    }

    /** A well-behaved client still gets served. */
    private void assertServerStillWorks() {
        try (var client = RendezvousClient.connect("127.0.0.1", server.port(), TOKEN, Duration.ofSeconds(5))) {
            client.set("alive", new byte[]{42});
            assertArrayEquals(new byte[]{42}, client.get("alive", Duration.ofSeconds(1)));
        }
    }

    /** Sends a valid hello, then {@code op}'s bytes; returns the server's ERROR message. */
    private String errorAfter(int op, byte[] rest) throws IOException {
        try (Socket socket = raw()) {
            var out = new DataOutputStream(socket.getOutputStream());
            var in = new DataInputStream(socket.getInputStream());
            hello(out, TOKEN);
            assertEquals(RendezvousProtocol.OK, in.readUnsignedByte());
            out.writeByte(op);
            out.write(rest);
            out.flush();
            assertEquals(RendezvousProtocol.ERROR, in.readUnsignedByte());
            String message = in.readUTF();
            assertClosedByServer(in);
            return message;
        }
    }

    private interface Writes {
        void to(DataOutputStream out) throws IOException;
    }

    private static byte[] bytes(Writes writes) throws IOException {
        var bytes = new java.io.ByteArrayOutputStream();
        writes.to(new DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    @Test
    void garbageIsDroppedAndOthersKeepWorking() throws IOException {
        try (Socket socket = raw()) {
            byte[] garbage = new byte[4096];
            new Random(1).nextBytes(garbage);
            socket.getOutputStream().write(garbage);
            assertClosedByServer(new DataInputStream(socket.getInputStream()));
        }
        assertServerStillWorks();
    }

    @Test
    void hugeLengthsAreRejectedWithoutAllocating() throws IOException {
        assertEquals("key length 2147483647 outside [1, 1024]", errorAfter(RendezvousProtocol.SET,
                bytes(out -> out.writeInt(Integer.MAX_VALUE))));
        assertEquals("value length 2000000000 outside [0, 1048576]", errorAfter(RendezvousProtocol.SET,
                bytes(out -> {
                    out.writeInt(1);
                    out.writeByte('k');
                    out.writeInt(2_000_000_000);
                })));
        assertEquals("key length -5 outside [1, 1024]", errorAfter(RendezvousProtocol.GET,
                bytes(out -> out.writeInt(-5))));
        assertEquals("WAIT key count 1000000000 outside [1, 65536]", errorAfter(RendezvousProtocol.WAIT,
                bytes(out -> out.writeInt(1_000_000_000))));
        assertEquals("negative timeout -1 ms", errorAfter(RendezvousProtocol.GET, bytes(out -> {
            out.writeInt(1);
            out.writeByte('k');
            out.writeLong(-1);
        })));
        assertEquals("unknown operation 99", errorAfter(99, new byte[0]));
        assertServerStillWorks();
    }

    @Test
    void hugeTokenLengthIsRejected() throws IOException {
        try (Socket socket = raw()) {
            var out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(RendezvousProtocol.MAGIC);
            out.writeInt(RendezvousProtocol.VERSION);
            out.writeInt(Integer.MAX_VALUE);
            out.flush();
            var in = new DataInputStream(socket.getInputStream());
            assertEquals(RendezvousProtocol.ERROR, in.readUnsignedByte());
            assertEquals("token length 2147483647 outside [0, 1024]", in.readUTF());
            assertClosedByServer(in);
        }
        assertServerStillWorks();
    }

    @Test
    void wrongTokenSeesOnlyTheRefusal() throws IOException {
        try (var client = RendezvousClient.connect("127.0.0.1", server.port(), TOKEN, Duration.ofSeconds(5))) {
            client.set("secret", new byte[]{1});
        }
        try (Socket socket = raw()) {
            var out = new DataOutputStream(socket.getOutputStream());
            var in = new DataInputStream(socket.getInputStream());
            hello(out, "guess");
            out.writeByte(RendezvousProtocol.GET);
            RendezvousProtocol.writeBytes(out, "secret".getBytes(StandardCharsets.UTF_8));
            out.writeLong(0);
            out.flush();
            assertEquals(RendezvousProtocol.REFUSED, in.readUnsignedByte());
            assertClosedByServer(in);
        }
        assertServerStillWorks();
    }

    @Test
    void silentAndStalledConnectionsAreClosedAfterTheIoTimeout() throws IOException {
        try (Socket silent = raw(); Socket stalled = raw()) {
            var out = new DataOutputStream(stalled.getOutputStream());
            hello(out, TOKEN);
            out.writeByte(RendezvousProtocol.SET);
            out.writeInt(10);
            out.write(new byte[3]); // and never the rest
            out.flush();
            var stalledIn = new DataInputStream(stalled.getInputStream());
            assertEquals(RendezvousProtocol.OK, stalledIn.readUnsignedByte());
            long start = System.nanoTime();
            assertEquals(-1, silent.getInputStream().read());
            assertClosedByServer(stalledIn);
            long waitedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(waitedMillis < 3_000, waitedMillis + " ms");
        }
        assertServerStillWorks();
    }

    @Test
    void closeWakesWaitersReleasesThePortAndEndsEveryThread() throws Exception {
        var waiter = RendezvousClient.connect("127.0.0.1", server.port(), TOKEN, Duration.ofSeconds(5));
        var idle = RendezvousClient.connect("127.0.0.1", server.port(), TOKEN, Duration.ofSeconds(5));
        Future<byte[]> waiting = pool.submit(() -> waiter.get("never", Duration.ofSeconds(30)));
        Thread.sleep(200);
        int port = server.port();
        assertEquals(3, server.liveThreads()); // acceptor + two connections

        long start = System.nanoTime();
        server.close();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> waiting.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof RendezvousException, e.getCause().toString());
        assertTrue(e.getCause().getMessage().contains("during GET 'never'"), e.getCause().getMessage());
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 3_000);
        assertEquals(0, server.liveThreads());
        assertThrows(RendezvousException.class, () -> idle.add("x", 1));

        try (var rebound = new ServerSocket()) {
            rebound.setReuseAddress(true);
            rebound.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        }
        server.close(); // idempotent
    }

    @Test
    void bindingABusyPortSaysSo() {
        var e = assertThrows(RendezvousException.class, () -> RendezvousServer.start(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), server.port()), TOKEN));
        assertTrue(e.getMessage().startsWith("could not bind the rendezvous server to "), e.getMessage());
        assertTrue(e.getMessage().endsWith("Choose another MASTER_PORT"), e.getMessage());
    }
}
