package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.RendezvousStore;
import dev.gatun.collectives.launch.TorchrunEnvironment;
import dev.gatun.collectives.nccl.NcclCommunicator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.ops.cuda.CudaBackendOptions;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * {@link RankPlacement#torchrunProcess}: this process is rank {@code RANK} of {@code WORLD_SIZE} on GPU
 * {@code LOCAL_RANK}; rank 0 hosts the rendezvous store, creates the NCCL unique id and publishes it there.
 */
final class TorchrunProcess implements RankPlacement {
    private final TorchrunEnvironment env;
    private final Duration rendezvousTimeout;
    private final CudaBackendOptions options;

    TorchrunProcess(TorchrunEnvironment env, Duration rendezvousTimeout, CudaBackendOptions options) {
        this.env = Objects.requireNonNull(env, "env must not be null");
        this.rendezvousTimeout = Objects.requireNonNull(rendezvousTimeout, "rendezvousTimeout must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
    }

    @Override
    public void check(int worldSize) {
        if (worldSize != env.worldSize()) {
            throw new IllegalArgumentException("the layout has " + worldSize + " ranks but WORLD_SIZE is "
                    + env.worldSize() + ": launch dp·tp·pp processes");
        }
        GpuRanks.requireCuda();
        int gpus = Cuda.deviceCount();
        if (env.localRank() >= gpus) {
            throw new IllegalArgumentException("LOCAL_RANK " + env.localRank() + " needs GPU " + env.localRank()
                    + " but this machine has " + gpus + ": start at most " + gpus + " processes per node");
        }
    }

    @Override
    public <R> List<R> run(int worldSize, CommOptions commOptions, Body<R> body) {
        check(worldSize);
        try (RendezvousStore store = RendezvousStore.open(env, rendezvousTimeout);
             CudaStream stream = new CudaStream(Device.cuda(env.localRank()));
             NcclCommunicator world = NcclCommunicator.initRank("world", store, stream, commOptions)) {
            return List.of(GpuRanks.run(world, stream, options, body));
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("rank " + env.rank() + " failed: " + e, e);
        }
    }

    /** This process's rank has its GPU, {@code cuda:LOCAL_RANK}, to itself. */
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
        return "rank " + env.rank() + " of " + worldSize + " processes (torchrun variables), on cuda:"
                + env.localRank() + " (NCCL)" + (options.tf32() ? ", TF32 GEMMs" : "");
    }
}
