package dev.gatun.collectives.launch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/**
 * Starts {@code nprocPerNode} local processes of one command, like {@code torchrun --nproc-per-node N}: process
 * {@code i} gets {@code RANK = LOCAL_RANK = i}, {@code WORLD_SIZE = LOCAL_WORLD_SIZE = N},
 * {@code MASTER_ADDR = 127.0.0.1}, a {@code MASTER_PORT} that was free when the launch began (rank 0 binds it for the
 * {@link RendezvousServer}), and a fresh random {@code GATUN_JOB_TOKEN} (see {@link TorchrunEnvironment}).
 *
 * <p>Each line a rank writes to stdout or stderr is copied to {@code output} prefixed with {@code "[rank i] "}. The
 * launch waits for every rank. When one exits non-zero, or {@code timeout} runs out, the launcher stops the others:
 * SIGTERM (to each process and its descendants), then SIGKILL for those still running after {@code gracePeriod}.
 * The {@link LaunchResult} says which rank failed first, with its exit code.
 *
 * @param nprocPerNode how many processes to start, >= 1
 * @param output       where the ranks' prefixed output goes
 * @param timeout      the whole run's limit
 * @param gracePeriod  how long stopped ranks get between SIGTERM and SIGKILL
 */
public record LocalLauncher(int nprocPerNode, PrintStream output, Duration timeout, Duration gracePeriod) {
    private static final String LOOPBACK = "127.0.0.1";
    private static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);
    /** After SIGKILL a process exits at once; this only bounds the wait for one stuck in the kernel. */
    private static final Duration KILL_WAIT = Duration.ofSeconds(10);
    private static final Duration OUTPUT_DRAIN = Duration.ofSeconds(5);

    public LocalLauncher {
        if (nprocPerNode < 1) {
            throw new IllegalArgumentException("nprocPerNode=" + nprocPerNode + " must be >= 1");
        }
        if (output == null) {
            throw new IllegalArgumentException("output must not be null");
        }
        if (!timeout.isPositive() || gracePeriod.isNegative()) {
            throw new IllegalArgumentException("timeout=" + timeout + " must be positive and gracePeriod="
                    + gracePeriod + " not negative");
        }
    }

    /** A launcher with a 5 s grace period. */
    public LocalLauncher(int nprocPerNode, PrintStream output, Duration timeout) {
        this(nprocPerNode, output, timeout, DEFAULT_GRACE);
    }

    /**
     * Runs {@code command} as {@code nprocPerNode} ranks and waits for them (or for the timeout).
     *
     * @param command the program and its arguments, the same for every rank
     * @throws UncheckedIOException if a process cannot be started (the ones already started are killed)
     * @throws InterruptedException if this thread is interrupted (every rank is killed first)
     */
    public LaunchResult launch(List<String> command) throws InterruptedException {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("command must name a program");
        }
        int port = freePort();
        String token = newToken();
        Process[] processes = new Process[nprocPerNode];
        List<Thread> pumps = new ArrayList<>();
        BlockingQueue<Integer> exits = new LinkedBlockingQueue<>();
        long start = System.nanoTime();
        boolean ok = false;
        try {
            for (int rank = 0; rank < nprocPerNode; rank++) {
                var env = new TorchrunEnvironment(rank, nprocPerNode, rank, nprocPerNode, LOOPBACK, port, token);
                var builder = new ProcessBuilder(command);
                builder.environment().putAll(env.toVariables());
                try {
                    processes[rank] = builder.start();
                } catch (IOException e) {
                    throw new UncheckedIOException("could not start rank " + rank + " with " + command + ": "
                            + e.getMessage(), e);
                }
                processes[rank].getOutputStream().close(); // no stdin: a rank that reads it sees EOF, not a hang
                pumps.add(pump(rank, processes[rank].getInputStream(), "stdout"));
                pumps.add(pump(rank, processes[rank].getErrorStream(), "stderr"));
                int r = rank;
                processes[rank].onExit().thenRun(() -> exits.add(r));
            }
            LaunchResult result = supervise(processes, exits, start);
            ok = true;
            drain(pumps);
            return result;
        } catch (IOException e) {
            throw new UncheckedIOException("could not close a rank's stdin", e);
        } finally {
            if (!ok) {
                stop(processes, true);
            }
        }
    }

    /** Waits for every rank; on the first failure or the timeout stops the rest, SIGTERM then SIGKILL. */
    private LaunchResult supervise(Process[] processes, BlockingQueue<Integer> exits, long start)
            throws InterruptedException {
        int[] exitCodes = new int[processes.length];
        int running = processes.length;
        LaunchResult.RankFailure firstFailure = null;
        boolean timedOut = false;
        List<Integer> stopped = List.of();
        long waitUntil = start + timeout.toNanos();
        boolean stopping = false;
        boolean killed = false;
        while (running > 0) {
            Integer rank = exits.poll(waitUntil - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (rank == null) {
                if (!stopping) {
                    timedOut = true;
                    stopping = true;
                    stopped = stop(processes, false);
                    waitUntil = System.nanoTime() + gracePeriod.toNanos();
                } else if (!killed) {
                    killed = true;
                    stop(processes, true);
                    waitUntil = System.nanoTime() + KILL_WAIT.toNanos();
                } else {
                    throw new IllegalStateException("ranks " + alive(processes) + " did not exit within "
                            + KILL_WAIT.toSeconds() + " s of SIGKILL"
                            + (firstFailure == null ? "" : "; rank " + firstFailure.rank() + " had failed first with "
                            + "exit code " + firstFailure.exitCode()));
                }
                continue;
            }
            running--;
            exitCodes[rank] = processes[rank].exitValue();
            if (exitCodes[rank] != 0 && !stopping) {
                firstFailure = new LaunchResult.RankFailure(rank, exitCodes[rank]);
                stopping = true;
                stopped = stop(processes, false);
                waitUntil = System.nanoTime() + gracePeriod.toNanos();
            }
        }
        return new LaunchResult(Arrays.stream(exitCodes).boxed().toList(), Optional.ofNullable(firstFailure),
                timedOut, stopped, Duration.ofNanos(System.nanoTime() - start));
    }

    /** Signals every live rank and its descendants (SIGTERM, or SIGKILL when {@code force}); returns those ranks. */
    private static List<Integer> stop(Process[] processes, boolean force) {
        List<Integer> ranks = alive(processes);
        for (int rank : ranks) {
            Process process = processes[rank];
            process.descendants().forEach(force ? ProcessHandle::destroyForcibly : ProcessHandle::destroy);
            if (force) {
                process.destroyForcibly();
            } else {
                process.destroy();
            }
        }
        return ranks;
    }

    private static List<Integer> alive(Process[] processes) {
        return IntStream.range(0, processes.length)
                .filter(r -> processes[r] != null && processes[r].isAlive())
                .boxed().toList();
    }

    /** Copies one of a rank's streams to {@link #output}, line by line, with the rank's prefix. */
    private Thread pump(int rank, InputStream stream, String name) {
        String prefix = "[rank " + rank + "] ";
        return Thread.ofPlatform().daemon().name("gatun-launch-rank-" + rank + "-" + name).start(() -> {
            try (var reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    output.println(prefix + line);
                }
            } catch (IOException e) {
                output.println(prefix + "<" + name + " could not be read further: " + e + ">");
            }
        });
    }

    /**
     * Lets the pumps copy what the ranks wrote last. A rank's descendant that outlives it may hold the pipe open, so
     * the wait is bounded; the pump then stays behind as a daemon thread.
     */
    private static void drain(List<Thread> pumps) throws InterruptedException {
        long deadline = System.nanoTime() + OUTPUT_DRAIN.toNanos();
        for (Thread pump : pumps) {
            pump.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        }
    }

    /** A port free on the loopback now; another program may take it before rank 0 binds it, as with torchrun. */
    private static int freePort() {
        try (var socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("could not find a free port on " + LOOPBACK + " for MASTER_PORT", e);
        }
    }

    private static String newToken() {
        byte[] bytes = new byte[16];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
