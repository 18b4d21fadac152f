package dev.gatun.train;

import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.launch.JobEnvironment;

import java.util.concurrent.Callable;

/** What the MPI placements share: the checks of the job against the layout, and a failing rank ending the job. */
final class MpiRanks {
    private MpiRanks() {
    }

    /** The job has the layout's {@code worldSize} processes and libmpi loads. */
    static void check(JobEnvironment env, int worldSize) {
        if (worldSize != env.worldSize()) {
            throw new IllegalArgumentException("the layout has " + worldSize + " ranks but " + env.launcher()
                    + " started " + env.worldSize() + " processes: start dp·tp·pp = " + worldSize + " (e.g. mpirun -np "
                    + worldSize + ")");
        }
        if (!Mpi.isAvailable()) {
            throw new IllegalArgumentException("this process runs under " + env.launcher() + " but libmpi cannot be "
                    + "loaded: " + Mpi.unavailableReason());
        }
    }

    /**
     * Runs this rank's {@code body}; should it fail, says why and ends the whole job with {@code MPI_Abort}, so that
     * the other ranks do not wait for it.
     */
    static <R> R runOrAbort(Communicator world, Callable<R> body) {
        try {
            return body.call();
        } catch (Exception | Error e) {
            System.err.println("gatun: rank " + world.rank() + " of " + world.size() + " failed: " + e
                    + "; ending the job (MPI_Abort)");
            System.err.flush();
            Mpi.abort(Mpi.commWorld(), 1);
            if (e instanceof RuntimeException r) {
                throw r;
            }
            if (e instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(e);
        }
    }
}
