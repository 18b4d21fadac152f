package dev.gatun.cli;

import dev.gatun.collectives.launch.RendezvousException;
import dev.gatun.collectives.launch.RendezvousStore;
import dev.gatun.collectives.launch.TorchrunEnvironment;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code gatun rendezvous-check}, run as every rank of a launch: joins the job's rendezvous store (rank 0 hosts it),
 * waits at a barrier until all {@code WORLD_SIZE} ranks have arrived, prints {@code rank R of W joined the rendezvous
 * at ADDR:PORT} and leaves. With {@code --fail-rank K}, rank K exits 3 right after joining while the others wait for
 * a key nobody sets: the launcher has to stop them.
 */
@Command(name = "rendezvous-check", hidden = true, mixinStandardHelpOptions = true,
        description = "Join the rendezvous store as a launched rank and wait for all ranks (checks a launch).")
final class RendezvousCheckCommand implements Callable<Integer> {
    /** The exit code of the rank named by {@code --fail-rank}. */
    static final int FAILED_ON_PURPOSE = 3;
    private static final String NEVER_SET = "rendezvous-check/never-set";

    @Option(names = "--timeout", defaultValue = "60s", converter = DurationConverter.class,
            description = "limit for joining, for the barrier and for any other wait (default ${DEFAULT-VALUE})")
    Duration timeout;

    @Option(names = "--fail-rank", description = "this rank exits " + FAILED_ON_PURPOSE + " right after joining; "
            + "the others then wait for a key that is never set")
    Integer failRank;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TorchrunEnvironment env;
        try {
            env = TorchrunEnvironment.fromSystem();
        } catch (IllegalArgumentException e) {
            err.println("gatun rendezvous-check: " + e.getMessage() + ". Run it as the ranks of a job: "
                    + "gatun launch --nproc N -- rendezvous-check, or under torchrun");
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        String problem = !timeout.isPositive() ? "--timeout=" + timeout + " must be positive"
                : failRank != null && (failRank < 0 || failRank >= env.worldSize())
                ? "--fail-rank=" + failRank + " must be in [0, WORLD_SIZE=" + env.worldSize() + ")" : null;
        if (problem != null) {
            err.println("gatun rendezvous-check: " + problem);
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        try {
            return check(env, out, err);
        } catch (RendezvousException e) {
            err.println("gatun rendezvous-check: rank " + env.rank() + ": " + e.getMessage());
            err.flush();
            return 1;
        }
    }

    private int check(TorchrunEnvironment env, PrintWriter out, PrintWriter err) {
        // Closed only on success: rank 0's close waits for every rank to leave, which after a failure never happens.
        // A rank that fails ends its process, and that drops its connections.
        RendezvousStore.exposureWarning(env).ifPresent(w -> err.println("gatun rendezvous-check: warning: " + w));
        RendezvousStore store = RendezvousStore.open(env, timeout);
        RendezvousStore.barrier(store.client(), "rendezvous-check", env.worldSize(), timeout);
        out.println("rank " + env.rank() + " of " + env.worldSize() + " joined the rendezvous at " + env.masterAddr()
                + ":" + env.masterPort());
        out.flush();
        if (failRank != null) {
            if (env.rank() == failRank) {
                err.println("rank " + failRank + " failing on purpose");
                err.flush();
                return FAILED_ON_PURPOSE;
            }
            store.client().get(NEVER_SET, timeout);
        }
        store.close();
        return 0;
    }
}
