package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.RankThreads;
import dev.gatun.collectives.nccl.NcclCommunicator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.ops.cuda.CudaBackendOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * {@link RankPlacement#localGpus}: rank {@code r} is a thread driving {@code cuda:r}, NCCL between them. A rank that
 * fails makes the others fail too, at the latest when their NCCL watchdog's timeout aborts a collective that the
 * failed rank never joined; the first failure is thrown with the others suppressed.
 */
final class LocalGpus implements RankPlacement {
    private final CudaBackendOptions options;

    LocalGpus(CudaBackendOptions options) {
        this.options = Objects.requireNonNull(options, "options must not be null");
    }

    @Override
    public void check(int worldSize) {
        GpuRanks.requireCuda();
        int gpus = Cuda.deviceCount();
        if (worldSize > gpus) {
            throw new IllegalArgumentException("the layout has " + worldSize + " ranks but this machine has " + gpus
                    + (gpus == 1 ? " GPU" : " GPUs") + " (NCCL needs one GPU per rank): make dp·tp·pp <= " + gpus
                    + " or use --device cpu");
        }
    }

    @Override
    public <R> List<R> run(int worldSize, CommOptions commOptions, Body<R> body) {
        check(worldSize);
        List<CudaStream> streams = new ArrayList<>();
        try {
            for (int r = 0; r < worldSize; r++) {
                streams.add(new CudaStream(Device.cuda(r)));
            }
            List<NcclCommunicator> world = NcclCommunicator.initAll("world", streams, commOptions);
            // each rank destroys its own communicator on its own thread: ncclCommDestroy is collective within a
            // node, so one thread destroying them one after another would wait on itself
            return RankThreads.run(worldSize, "gatun-gpu-rank-", r -> {
                try {
                    return GpuRanks.run(world.get(r), streams.get(r), options, body);
                } finally {
                    world.get(r).close();
                }
            }, (reason, cause, threads) -> {
                // the others stop when their NCCL watchdog aborts the calls the failed rank never joined
            });
        } finally {
            streams.forEach(CudaStream::close);
        }
    }

    /** Each rank has its GPU to itself: the least free memory of {@code cuda:0..worldSize-1}. */
    @Override
    public MemoryLimit memoryLimit(int worldSize) {
        check(worldSize);
        long least = Long.MAX_VALUE;
        int which = 0;
        for (int r = 0; r < worldSize; r++) {
            Cuda.setDevice(r);
            long free = Cuda.memGetInfo().freeBytes();
            if (free < least) {
                least = free;
                which = r;
            }
        }
        return new MemoryLimit(least, false, "free memory of cuda:" + which);
    }

    @Override
    public OptionalDouble peakFlopsPerRank() {
        return Cuda.isAvailable() ? GpuRanks.peak(0, options) : OptionalDouble.empty();
    }

    @Override
    public String describe(int worldSize) {
        return (worldSize == 1 ? "1 rank as a thread on cuda:0" : worldSize + " ranks as threads on cuda:0.."
                + (worldSize - 1)) + " (NCCL)" + (options.tf32() ? ", TF32 GEMMs" : "");
    }
}
