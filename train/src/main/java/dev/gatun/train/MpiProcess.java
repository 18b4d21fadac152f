package dev.gatun.train;

import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.JobEnvironment;
import dev.gatun.collectives.mpi.MpiCommunicator;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.HostMemory;
import dev.gatun.ops.cpu.CpuBackend;

import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * {@link RankPlacement#mpiProcess}: this process is one rank of a job that {@code mpirun} or {@code srun} started,
 * on the CPU backend, the world an {@link MpiCommunicator} over {@code MPI_COMM_WORLD}. MPI is finalised when the
 * run ends (one run per process). A rank that fails writes why and ends the whole job with {@code MPI_Abort}, so
 * the other ranks do not wait for it.
 */
final class MpiProcess implements RankPlacement {
    private final JobEnvironment env;

    MpiProcess(JobEnvironment env) {
        this.env = Objects.requireNonNull(env, "env must not be null");
    }

    @Override
    public void check(int worldSize) {
        MpiRanks.check(env, worldSize);
    }

    @Override
    public <R> List<R> run(int worldSize, CommOptions options, Body<R> body) {
        check(worldSize);
        R result;
        try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = HostAllocator.caching();
             MpiCommunicator world = MpiCommunicator.world(backend.stream(), options)) {
            result = MpiRanks.runOrAbort(world, () -> body.run(new Rank(world, backend, allocator)));
            world.barrier();
        }
        Mpi.finish();
        return List.of(result);
    }

    /** The host's available memory, shared by the job's processes on this node. */
    @Override
    public MemoryLimit memoryLimit(int worldSize) {
        return new MemoryLimit(HostMemory.availableBytes() / env.localWorldSize(), false,
                "host memory available (MemAvailable) over this node's " + env.localWorldSize() + " processes");
    }

    @Override
    public OptionalDouble peakFlopsPerRank() {
        return OptionalDouble.empty();
    }

    @Override
    public String describe(int worldSize) {
        return "rank " + env.rank() + " of " + worldSize + " processes (" + env.launcher() + "), on the CPU, MPI "
                + "between them";
    }
}
