package dev.gatun.collectives.launch;

import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The program {@link LocalLauncherTest} runs as each rank, in a JVM of its own. Modes:
 * <ul>
 *   <li>{@code broadcast}: open the store (rank 0 hosts it), check that a wrong token is refused, receive rank 0's
 *       128-byte "NCCL id", print it, and close the store (rank 0's close waits for the others to leave);</li>
 *   <li>{@code fail R C}: the ranks other than {@code R} sleep a minute; once they all do, rank {@code R} exits
 *       with code {@code C};</li>
 *   <li>{@code sleep}: every rank sleeps a minute.</li>
 * </ul>
 */
public final class LaunchedRank {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private LaunchedRank() {
    }

    public static void main(String[] args) throws InterruptedException {
        TorchrunEnvironment env = TorchrunEnvironment.fromSystem();
        switch (args[0]) {
            case "broadcast" -> broadcast(env);
            case "fail" -> {
                int failing = Integer.parseInt(args[1]);
                RendezvousStore store = RendezvousStore.open(env, TIMEOUT);
                System.out.println("started");
                if (env.rank() == failing) {
                    store.client().waitFor(IntStream.range(0, env.worldSize()).filter(r -> r != failing)
                            .mapToObj(r -> "sleeping/" + r).toList(), TIMEOUT);
                    System.exit(Integer.parseInt(args[2]));
                }
                store.client().set("sleeping/" + env.rank(), new byte[0]);
                Thread.sleep(60_000);
            }
            case "sleep" -> Thread.sleep(60_000);
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static void broadcast(TorchrunEnvironment env) {
        try (RendezvousStore store = RendezvousStore.open(env, TIMEOUT)) {
            if (env.rank() != 0) {
                try (var stray = RendezvousClient.connect(env.masterAddr(), env.masterPort(), "not-" + env.jobToken(),
                        TIMEOUT)) {
                    throw new AssertionError("a wrong token was accepted by " + stray.server());
                } catch (RendezvousException e) {
                    System.out.println(e.getMessage().contains("refused this job token")
                            ? "wrong token refused" : "unexpected: " + e);
                }
            }
            byte[] id = RendezvousStore.broadcastBytes(store.client(), env.rank(), "nccl-id/world", () -> {
                byte[] bytes = new byte[128];
                new Random().nextBytes(bytes);
                return bytes;
            }, TIMEOUT);
            System.out.println("nccl-id " + HexFormat.of().formatHex(id));
            System.err.println("rank " + env.rank() + " of " + env.worldSize() + " done");
        }
    }
}
