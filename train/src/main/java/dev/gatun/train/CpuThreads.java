package dev.gatun.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.HostMemory;
import dev.gatun.ops.cpu.CpuBackend;

import java.util.List;
import java.util.OptionalDouble;

/** {@link RankPlacement#cpuThreads()}: ranks as threads of this JVM, each with a CPU backend and host memory. */
final class CpuThreads implements RankPlacement {
    @Override
    public <R> List<R> run(int worldSize, CommOptions options, Body<R> body) {
        return InProcessWorld.run(worldSize, options, world -> {
            try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = HostAllocator.caching()) {
                return body.run(new Rank(world, backend, allocator));
            }
        });
    }

    @Override
    public void check(int worldSize) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("a world needs at least 1 rank, got " + worldSize);
        }
    }

    /** Every rank is a thread of this JVM: they share the host memory available. */
    @Override
    public MemoryLimit memoryLimit(int worldSize) {
        return new MemoryLimit(HostMemory.availableBytes(), true, HostMemory.source());
    }

    @Override
    public OptionalDouble peakFlopsPerRank() {
        return OptionalDouble.empty();
    }

    @Override
    public String describe(int worldSize) {
        return worldSize == 1 ? "1 rank as a thread on the CPU" : worldSize + " ranks as threads on the CPU";
    }
}
