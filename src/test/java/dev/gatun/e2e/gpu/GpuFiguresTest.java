package dev.gatun.e2e.gpu;

import dev.gatun.e2e.gpu.GpuCheckStep.Figures;
import dev.gatun.e2e.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU checks' figure readers, on the real output of the same commands on the CPU where they run here (train,
 * info), and on the documented formats of JUnit's XML report, JMH's JSON and {@code gatun bench kernels} otherwise.
 */
@Timeout(180)
class GpuFiguresTest {
    @Test
    void theGpt2FiguresComeFromTheTrainersOwnOutputAndMetrics(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        Cli.Run run = Cli.run("train", "--steps", "4", "--out", a.toString());
        assertEquals(0, run.exit(), run.err());
        Figures same = GpuFigures.gpt2(List.of(run.out()), a, a, 1);
        assertEquals(List.of(), same.failures());
        Map<String, Object> v = same.values();
        assertEquals(0.0, (double) v.get("first_loss_relative_difference"));
        assertEquals(3, v.get("steady_steps"));
        assertTrue((long) v.get("tokens_per_second") > 0, v.toString());
        double inUse = (double) v.get("peak_in_use_mib");
        assertTrue(inUse > 0 && (double) v.get("peak_reserved_mib") >= inUse, v.toString());
        assertFalse(v.containsKey("mfu"), "no MFU on the CPU: " + v);

        Cli.Run other = Cli.run("train", "--steps", "1", "--seed", "8", "--out", b.toString());
        assertEquals(0, other.exit(), other.err());
        Figures differ = GpuFigures.gpt2(List.of(run.out()), a, b, 1);
        assertEquals(1, differ.failures().size(), differ.toString());
        assertTrue(differ.failures().getFirst().contains("first-step loss"), differ.toString());

        Figures loss = GpuFigures.trainedLoss(run.out());
        assertEquals(4, loss.values().get("steps"));
        assertEquals(List.of(), loss.failures());
        assertFalse(GpuFigures.gpt2(List.of(""), dir.resolve("none"), b, 1).failures().isEmpty());
    }

    @Test
    void theProbeReadsNvidiaSmiAndGatunInfo() {
        Cli.Run info = Cli.run("info");
        assertEquals(0, info.exit(), info.err());
        String smi = "NVIDIA H200, 143771 MiB, 570.124.06\n";
        Figures f = GpuFigures.probe(List.of(smi, info.out()));
        assertEquals(1, f.values().get("gpus"));
        assertEquals("NVIDIA H200", f.values().get("gpu"));
        assertEquals("570.124.06", f.values().get("driver"));
        @SuppressWarnings("unchecked")
        Map<String, Object> libraries = (Map<String, Object>) f.values().get("libraries");
        assertEquals(List.of("CUDA runtime", "CUDA driver", "cuBLAS", "NCCL", "NVRTC").stream().sorted().toList(),
                libraries.keySet().stream().sorted().toList(), info.out());
        if (info.out().contains("no CUDA device")) {
            assertTrue(f.failures().contains("gatun info lists no CUDA device"), f.toString());
        }
        Figures device = GpuFigures.probe(List.of(smi,
                "CUDA devices:\n  [0] NVIDIA H200, 139.8 GiB, compute capability 9.0, 132 SMs\n"));
        assertEquals(List.of(Map.of("ordinal", 0, "name", "NVIDIA H200", "memory_gib", 139.8,
                "compute_capability", "9.0", "sms", 132)), device.values().get("cuda_devices"));
    }

    @Test
    void junitReportsAreCountedAndFailuresNamed(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("TEST-junit-jupiter.xml"), """
                <?xml version="1.0" encoding="UTF-8"?>
                <testsuite name="JUnit Jupiter" tests="4" skipped="1" failures="1" errors="1" time="3.2">
                  <testcase name="gemm()" classname="dev.gatun.ops.cuda.CudaBackendGpuTest" time="0.5"/>
                  <testcase name="adamw()" classname="dev.gatun.ops.cuda.CudaBackendGpuTest" time="0.1">
                    <failure message="relative error 0.3" type="org.opentest4j.AssertionFailedError">trace</failure>
                  </testcase>
                  <testcase name="launch()" classname="dev.gatun.bindings.GpuBindingsTest" time="0.1">
                    <error message="boom" type="java.lang.IllegalStateException">trace</error>
                  </testcase>
                  <testcase name="twoGpus()" classname="dev.gatun.memory.CudaMemoryGpuTest" time="0">
                    <skipped>2 GPUs needed</skipped>
                  </testcase>
                </testsuite>
                """);
        Figures f = GpuFigures.junit(dir);
        assertEquals(Map.of("tests", 4, "passed", 1, "failed", 2, "skipped", 1, "failed_tests",
                List.of("dev.gatun.ops.cuda.CudaBackendGpuTest.adamw()", "dev.gatun.bindings.GpuBindingsTest.launch()")),
                f.values());
        assertEquals(2, f.failures().size());
        assertEquals(List.of("no JUnit report under " + dir.resolve("none")),
                GpuFigures.junit(dir.resolve("none")).failures());
    }

    @Test
    void jmhResultsGiveTheGemmRatioAndTheAllocatorsSpeedUp(@TempDir Path dir) throws Exception {
        Path gemm = Files.writeString(dir.resolve("gemm.json"), """
                [{"benchmark": "dev.gatun.jmh.CublasGemmBenchmark.bf16Gemm", "mode": "avgt", "params": {"n": "8192"},
                  "primaryMetric": {"score": 1.25, "scoreUnit": "ms/op"}}]
                """);
        Figures g = GpuFigures.gemm(List.of("torch.matmul bf16 8192^3: 1.2000 ms  916.3 TFLOP/s on NVIDIA H200\n"),
                gemm);
        assertEquals(List.of(), g.failures());
        assertEquals(0.96, g.values().get("gatun_over_torch"));
        assertEquals(879.609, g.values().get("gatun_tflops"));
        Path alloc = Files.writeString(dir.resolve("alloc.json"), """
                [{"benchmark": "dev.gatun.jmh.CachingAllocatorBenchmark.cachedAllocFree", "params": {"bytes": "4096"},
                  "primaryMetric": {"score": 0.05}},
                 {"benchmark": "dev.gatun.jmh.CachingAllocatorBenchmark.cudaMallocFree", "params": {"bytes": "4096"},
                  "primaryMetric": {"score": 5.0}}]
                """);
        assertEquals(Map.of("bytes", Map.of("4096", Map.of("cachedAllocFree_us", 0.05, "cudaMallocFree_us", 5.0,
                "cudamalloc_over_cached", 100.0))), GpuFigures.allocator(alloc).values());
    }

    @Test
    void kernelTimingsNeedEveryFamilyCompiledColdThenReadFromDisk() {
        String cold = "total 7 families in 5123.4 ms (7 compiled by NVRTC, 0 from the disk cache)\n";
        String warm = "total 7 families in 81.0 ms (0 compiled by NVRTC, 7 from the disk cache)\n";
        Figures ok = GpuFigures.nvrtc(List.of(cold, warm));
        assertEquals(List.of(), ok.failures());
        assertEquals(5123.4, ok.values().get("cold_ms"));
        assertEquals(7, ok.values().get("disk_cache_read_from_disk"));
        Figures bad = GpuFigures.nvrtc(List.of(cold, cold));
        assertEquals(List.of("disk_cache: 0 of 7 families read from the disk cache"), bad.failures());
    }
}
