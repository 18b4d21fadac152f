package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.JobEnvironment;
import dev.gatun.collectives.mpi.MpiCommunicator;
import dev.gatun.collectives.nccl.NcclCommunicator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.ops.cuda.CudaBackendOptions;

import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * {@link RankPlacement#mpiGpuProcess}: this process is one rank of an {@code mpirun}/{@code srun} job on GPU
 * {@code localRank}, NCCL between the ranks; MPI only starts it, carrying NCCL's unique id from rank 0 to the others
 * by broadcast, so that no rendezvous store is needed. Not run on a GPU yet (no multi-GPU machine has been lent).
 */
final class MpiGpuProcess implements RankPlacement {
    private final JobEnvironment env;
    private final CudaBackendOptions options;

    MpiGpuProcess(JobEnvironment env, CudaBackendOptions options) {
        this.env = Objects.requireNonNull(env, "env must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
    }

    @Override
    public void check(int worldSize) {
        MpiRanks.check(env, worldSize);
        GpuRanks.requireCuda();
        int gpus = Cuda.deviceCount();
        if (env.localRank() >= gpus) {
            throw new IllegalArgumentException("local rank " + env.localRank() + " needs GPU " + env.localRank()
                    + " but this machine has " + gpus + ": start at most " + gpus + " processes per node");
        }
    }

    @Override
    public <R> List<R> run(int worldSize, CommOptions commOptions, Body<R> body) {
        check(worldSize);
        R result;
        try (MpiCommunicator bootstrap = MpiCommunicator.world(DeviceStream.cpu(), commOptions);
             CudaStream stream = new CudaStream(Device.cuda(env.localRank()));
             NcclCommunicator world = NcclCommunicator.initRank("world", bootstrap, stream, commOptions)) {
            result = MpiRanks.runOrAbort(world, () -> GpuRanks.run(world, stream, options, body));
            bootstrap.barrier();
        }
        Mpi.finish();
        return List.of(result);
    }

    @Override
    public MemoryLimit memoryLimit(int worldSize) {
        check(worldSize);
        Cuda.setDevice(env.localRank());
        return new MemoryLimit(Cuda.memGetInfo().freeBytes(), false, "free memory of cuda:" + env.localRank());
    }

    @Override
    public OptionalDouble peakFlopsPerRank() {
        return Cuda.isAvailable() ? GpuRanks.peak(env.localRank(), options) : OptionalDouble.empty();
    }

    @Override
    public String describe(int worldSize) {
        return "rank " + env.rank() + " of " + worldSize + " processes (" + env.launcher() + "), on cuda:"
                + env.localRank() + " (NCCL, its id by MPI broadcast)" + (options.tf32() ? ", TF32 GEMMs" : "");
    }
}
