package dev.gatun.e2e.gpu;

import dev.gatun.e2e.gpu.GpuCommand.Benchmark;
import dev.gatun.e2e.gpu.GpuCommand.Gatun;
import dev.gatun.e2e.gpu.GpuCommand.Program;
import dev.gatun.e2e.gpu.GpuCommand.Tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The GPU checks of record as data: the steps in the order of what they prove, each with its limit. On one H200
 * the whole plan is meant to finish within {@link #BUDGET_SECONDS}; the runner stops starting steps once that budget
 * is spent, so the limits below may add up to more.
 *
 * <ol>
 *   <li>{@code probe}: the GPU, the driver, and each native library with its version.</li>
 *   <li>{@code core-tests}: the gpu-tagged tests of the bindings, memory and ops (every CUDA op against the CPU
 *       backend, cuBLAS, NVRTC, streams and events, the caching allocator).</li>
 *   <li>{@code nvrtc}: every kernel family compiled by NVRTC (cold), then read back from the disk cache by a second
 *       process.</li>
 *   <li>{@code gemm}: cuBLAS bf16 GEMM 8192³ issued from Java (JMH) against {@code torch.matmul} in the same run;
 *       {@code allocator}: the caching allocator's cached allocate/free against {@code cudaMalloc}/{@code cudaFree}.</li>
 *   <li>{@code gpt2}: GPT-2 124M, bf16, one GPU: tokens/s, MFU and peak device memory over the steady steps, and
 *       the first step's loss against one CPU rank on the same batch and weights.</li>
 *   <li>{@code nccl}: the NCCL communicator's gpu tests (one rank; more skip), then the tiny preset through a
 *       one-process {@code gatun launch} (the NCCL id through the rendezvous store).</li>
 *   <li>{@code layer-tests}: the tensor-parallel layers and the CUDA trainer against one CPU rank.</li>
 *   <li>{@code scaling}, {@code nvlink}: training throughput and collective bandwidth over the GPUs present; they
 *       need two or more and say so otherwise.</li>
 * </ol>
 */
final class GpuCheckPlan {
    /** About seven minutes on one H200: a 15-minute GPU slot keeps room for the machine's start and one rerun. */
    static final int BUDGET_SECONDS = 420;
    /** GEMM size of the cuBLAS-against-torch comparison. */
    static final int GEMM_N = 8192;
    /** Sequences per step of the GPT-2 runs (1024 tokens each). */
    static final int GPT2_BATCH = 8;
    /** Steps of the CUDA GPT-2 run; the figures are taken from step {@link #GPT2_STEADY_FROM} on. */
    static final int GPT2_STEPS = 10;
    static final int GPT2_STEADY_FROM = 3;
    /** The project's script that times {@code torch.matmul}. */
    static final Path TORCH_SCRIPT = Path.of("jmh", "torch-matmul.py");

    private GpuCheckPlan() {
    }

    /**
     * The steps, writing their files under {@code out}; {@code gpus} sets the rank lists of the multi-GPU steps
     * and {@code python} is the interpreter that has PyTorch.
     */
    static List<GpuCheckStep> standard(Path out, int gpus, String python) {
        Path core = out.resolve("junit/core-tests");
        Path nccl = out.resolve("junit/nccl");
        Path layers = out.resolve("junit/layer-tests");
        Path kernelCache = out.resolve("kernel-cache");
        Path gemm = out.resolve("jmh-gemm.json");
        Path allocator = out.resolve("jmh-allocator.json");
        Path gpt2Cuda = out.resolve("gpt2-cuda");
        Path gpt2Cpu = out.resolve("gpt2-cpu");
        Path launch = out.resolve("launch");
        Path llamaTiny = out.resolve("llama-tiny");
        Path llama1b = out.resolve("llama-1b");
        String ranks = IntStream.of(1, 2, 4, 8).filter(n -> n <= Math.max(1, gpus)).mapToObj(Integer::toString)
                .collect(Collectors.joining(","));
        String ncclRanks = IntStream.of(2, 4, 8).filter(n -> n <= Math.max(2, gpus)).mapToObj(Integer::toString)
                .collect(Collectors.joining(","));
        List<String> gpt2 = List.of("--preset", "gpt2", "--precision", "bf16", "--batch", Integer.toString(GPT2_BATCH));
        return List.of(
                new GpuCheckStep("probe", "the GPU, its driver, and each native library found with its version",
                        30, 1, List.of(
                        new Program(List.of("nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                "--format=csv,noheader"), null),
                        Gatun.of("info")),
                        GpuFigures::probe),
                new GpuCheckStep("core-tests", "the bindings (CUDA runtime and driver, cuBLAS, NVRTC), memory "
                        + "(tensors, streams, events, the caching allocator) and every CUDA op against the CPU backend",
                        150, 1, List.of(new Tests("gpu", List.of("dev.gatun.bindings", "dev.gatun.memory",
                        "dev.gatun.ops"), List.of(), core, List.of("dev.gatun.bindings.GpuBindingsTest",
                        "dev.gatun.memory.CudaMemoryGpuTest", "dev.gatun.memory.TensorGpuTest",
                        "dev.gatun.ops.cuda.CudaBackendGpuTest"))),
                        outputs -> GpuFigures.junit(core), List.of(core)),
                new GpuCheckStep("nvrtc", "NVRTC compiles every kernel family for this GPU (cold), and a later "
                        + "process reads them all from the disk cache",
                        60, 1, List.of(
                        Gatun.of("bench", "kernels", "--cache", kernelCache.toString()),
                        Gatun.of("bench", "kernels", "--cache", kernelCache.toString())),
                        GpuFigures::nvrtc, List.of(kernelCache)),
                new GpuCheckStep("gemm", "cuBLAS bf16 GEMM " + GEMM_N + "³ issued from Java runs as fast as "
                        + "torch.matmul on the same GPU",
                        90, 1, List.of(
                        new Program(List.of(python, TORCH_SCRIPT.toString(), Integer.toString(GEMM_N)), TORCH_SCRIPT),
                        new Benchmark("dev.gatun.jmh.CublasGemmBenchmark", List.of("-p", "n=" + GEMM_N, "-f", "1",
                                "-wi", "2", "-w", "1s", "-i", "3", "-r", "1s", "-rf", "json", "-rff", gemm.toString()))),
                        outputs -> GpuFigures.gemm(outputs, gemm), List.of(gemm)),
                new GpuCheckStep("allocator", "the caching allocator's allocate + free of a cached block against "
                        + "cudaMalloc + cudaFree",
                        60, 1, List.of(new Benchmark("dev.gatun.jmh.CachingAllocatorBenchmark", List.of("-f", "1",
                        "-wi", "1", "-w", "1s", "-i", "2", "-r", "1s", "-rf", "json", "-rff", allocator.toString()))),
                        outputs -> GpuFigures.allocator(allocator), List.of(allocator)),
                new GpuCheckStep("gpt2", "GPT-2 124M in bf16 on one GPU: tokens/s, MFU and peak device memory over "
                        + "steady steps, and the first step's loss equal to one CPU rank's on the same batch and weights",
                        180, 1, List.of(
                        gatun(List.of("train", "--device", "cuda"), gpt2, List.of("--steps",
                                Integer.toString(GPT2_STEPS), "--warmup", "2", "--out", gpt2Cuda.toString())),
                        gatun(List.of("train", "--device", "cpu"), gpt2, List.of("--steps", "1", "--out",
                                gpt2Cpu.toString()))),
                        outputs -> GpuFigures.gpt2(outputs, gpt2Cuda, gpt2Cpu, GPT2_STEADY_FROM),
                        List.of(gpt2Cuda, gpt2Cpu)),
                new GpuCheckStep("nccl", "NCCL on one rank (every collective, the communicator's errors), then the "
                        + "tiny preset through a one-process gatun launch (the NCCL id through the rendezvous store)",
                        120, 1, List.of(
                        new Tests("gpu", List.of("dev.gatun.collectives"), List.of(), nccl,
                                List.of("dev.gatun.collectives.nccl.NcclCommunicatorGpuTest")),
                        Gatun.of("launch", "--nproc", "1", "--timeout", "80s", "--", "train", "--device", "cuda",
                                "--steps", "30", "--out", launch.toString())),
                        outputs -> GpuFigures.merge(GpuFigures.junit(nccl),
                                outputs.size() > 1 ? GpuFigures.trainedLoss(outputs.get(1)) : GpuCheckStep.Figures.none()),
                        List.of(nccl, launch)),
                new GpuCheckStep("layer-tests", "the tensor-parallel layers and the trainer on CUDA against one CPU "
                        + "rank (layouts of more ranks than GPUs skip with the reason)",
                        150, 1, List.of(new Tests("gpu", List.of("dev.gatun.tp", "dev.gatun.e2e"), List.of(), layers,
                        List.of("dev.gatun.tp.TensorParallelGpuTest", "dev.gatun.e2e.CudaTrainingGpuTest"))),
                        outputs -> GpuFigures.junit(layers), List.of(layers)),
                new GpuCheckStep("llama", "the Llama model on one GPU in bf16: the tiny preset's loss falls, and "
                        + "Llama 3.2 1B's tokens/s and MFU over a few steps of 8 x 256 tokens",
                        150, 1, List.of(
                        Gatun.of("train", "--model", "llama", "--device", "cuda", "--precision", "bf16", "--steps",
                                "30", "--out", llamaTiny.toString()),
                        Gatun.of("train", "--model", "llama", "--preset", "llama3.2-1b", "--device", "cuda",
                                "--precision", "bf16", "--batch", "8", "--seq-len", "256", "--steps", "6", "--warmup",
                                "2", "--out", llama1b.toString())),
                        outputs -> GpuFigures.merge(outputs.isEmpty() ? GpuCheckStep.Figures.none()
                                : GpuFigures.trainedLoss(outputs.getFirst()), outputs.size() > 1
                                ? GpuFigures.speed(outputs.get(1)) : GpuCheckStep.Figures.none()),
                        List.of(llamaTiny, llama1b)),
                new GpuCheckStep("scaling", "GPT-2 training throughput over " + ranks + " GPUs (data parallel, NCCL), "
                        + "with MFU",
                        120, 2, List.of(Gatun.of("bench", "train", "--backend", "cuda", "--preset", "gpt2",
                        "--ranks", ranks, "--steps", "3", "--warmup", "2")),
                        GpuFigures::table),
                new GpuCheckStep("nvlink", "NCCL all-reduce, reduce-scatter and all-gather bus bandwidth over "
                        + ncclRanks + " GPUs",
                        90, 2, List.of(Gatun.of("comm-bench", "--backend", "nccl", "--ranks", ncclRanks)),
                        GpuFigures::table));
    }

    /** The Python that has PyTorch: {@code $TORCH_PYTHON}, the GPU machine's {@code /opt/torch/.venv}, or python3. */
    static String torchPython() {
        String given = System.getenv("TORCH_PYTHON");
        if (given != null && !given.isBlank()) {
            return given;
        }
        Path venv = Path.of("/opt/torch/.venv/bin/python");
        return Files.isExecutable(venv) ? venv.toString() : "python3";
    }

    private static Gatun gatun(List<String> head, List<String> middle, List<String> tail) {
        return new Gatun(java.util.stream.Stream.of(head, middle, tail).flatMap(List::stream).toList());
    }
}
