package dev.gatun.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.launch.TorchrunEnvironment;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.cuda.CudaBackendOptions;

import java.time.Duration;
import java.util.List;
import java.util.OptionalDouble;

/**
 * Where the ranks of a training run live and what each computes with: its world communicator, its {@link Backend}
 * and its memory. Three placements:
 * <ul>
 *   <li>{@link #cpuThreads()}: every rank a thread of this JVM on the CPU backend with in-process communicators (CI,
 *       laptops, and the reference every layout is compared with);</li>
 *   <li>{@link #localGpus}: every rank a thread of this JVM driving one local GPU (rank {@code r} on
 *       {@code cuda:r}) with the CUDA backend, a caching allocator, and an NCCL world made by
 *       {@code ncclCommInitAll};</li>
 *   <li>{@link #mpiProcess}: this process is one rank of an MPI job on the CPU backend, MPI between the
 *       processes;</li>
 *   <li>{@link #torchrunProcess}: this process is one rank ({@code RANK} of {@code WORLD_SIZE}, on GPU
 *       {@code LOCAL_RANK}) of a job started by {@code gatun launch} or torchrun; the NCCL world is joined with the
 *       unique id shared through the rendezvous store at {@code MASTER_ADDR:MASTER_PORT}.</li>
 * </ul>
 */
public interface RankPlacement {
    /** What one rank computes with. */
    record Rank(Communicator world, Backend backend, TensorAllocator allocator) {
    }

    /** What each rank runs. */
    @FunctionalInterface
    interface Body<R> {
        R run(Rank rank) throws Exception;
    }

    /**
     * Runs {@code body} on every rank of a world of {@code worldSize} that this process holds, and returns their
     * results in rank order (every rank for threads; one for a torchrun process).
     *
     * @throws IllegalArgumentException when this placement cannot hold such a world (too few GPUs, a
     *                                  {@code WORLD_SIZE} of another size), saying what to change
     */
    <R> List<R> run(int worldSize, CommOptions options, Body<R> body);

    /**
     * Checks, before anything starts, that this placement can hold a world of {@code worldSize}.
     *
     * @throws IllegalArgumentException saying what to change
     */
    void check(int worldSize);

    /**
     * The peak FLOP/s of one rank's device for the GEMM math this placement's backend uses (the denominator of MFU),
     * or empty when it is not known (the CPU, an unlisted GPU).
     */
    OptionalDouble peakFlopsPerRank();

    /**
     * The memory this placement's ranks can take for a world of {@code worldSize}, to compare with a
     * memory estimate (e.g. GPT's {@code MemoryEstimate}) before anything is allocated.
     */
    MemoryLimit memoryLimit(int worldSize);

    /** One line for the run's header, e.g. {@code "4 ranks as threads on the CPU"}. */
    String describe(int worldSize);

    /** Ranks as threads on the CPU backend. */
    static RankPlacement cpuThreads() {
        return new CpuThreads();
    }

    /** Ranks as threads, one per local GPU, NCCL between them. */
    static RankPlacement localGpus(CudaBackendOptions options) {
        return new LocalGpus(options);
    }

    /** This process as one rank of an MPI job ({@code mpirun}, {@code srun}) on the CPU backend. */
    static RankPlacement mpiProcess(dev.gatun.collectives.launch.JobEnvironment env) {
        return new MpiProcess(env);
    }

    /** This process as one rank of an MPI job on GPU {@code localRank}, NCCL between the ranks. */
    static RankPlacement mpiGpuProcess(dev.gatun.collectives.launch.JobEnvironment env, CudaBackendOptions options) {
        return new MpiGpuProcess(env, options);
    }

    /** This process as one rank of a torchrun-style job, on GPU {@code LOCAL_RANK}. */
    static RankPlacement torchrunProcess(TorchrunEnvironment env, Duration rendezvousTimeout,
                                         CudaBackendOptions options) {
        return new TorchrunProcess(env, rendezvousTimeout, options);
    }
}
