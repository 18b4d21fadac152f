package dev.gatun.ops.cuda;

import dev.gatun.bindings.Cuda;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.VocabSlice;
import dev.gatun.ops.cpu.CpuBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every operation of the CUDA backend against the CPU backend on the same random inputs (awkward sizes), outputs
 * poisoned with NaN on both sides first. Skipped where there is no CUDA device.
 */
@Tag("gpu")
class CudaBackendGpuTest {
    private static final Device GPU = Device.cuda(0);
    private static final double FP32 = 2e-5;

    private CudaStream stream;
    private CachingDeviceAllocator memory;
    private CudaBackend cuda;
    private HostAllocator host;
    private CpuBackend cpu;
    private DeviceStream cpuStream;
    private final List<Tensor> live = new ArrayList<>();
    private final Random random = new Random();

    /** The same tensor on both backends. */
    private record Pair(Tensor cpu, Tensor gpu) {
    }

    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
    }

    @BeforeEach
    void open() {
        stream = new CudaStream(GPU);
        memory = CachingDeviceAllocator.cuda(GPU);
        cuda = new CudaBackend(stream, memory, CudaBackendOptions.DEFAULT);
        host = new HostAllocator();
        cpu = new CpuBackend();
        cpuStream = cpu.stream();
    }

    @AfterEach
    void close() {
        live.forEach(Tensor::close);
        cuda.close();
        memory.close();
        stream.close();
        host.close();
        cpu.close();
    }

    private Pair empty(DType dtype, long... dims) {
        Tensor c = Tensor.allocate(host, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, "cpu", cpuStream);
        Tensor g = Tensor.allocate(memory, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, "gpu", stream);
        live.add(c);
        live.add(g);
        return new Pair(c, g);
    }

    private Pair random(DType dtype, long... dims) {
        Pair p = empty(dtype, dims);
        float[] v = new float[(int) p.cpu.numel()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        p.cpu.copyFrom(v, cpuStream);
        p.gpu.copyFrom(v, stream);
        return p;
    }

    private Pair random(long... dims) {
        return random(DType.FP32, dims);
    }

    private Pair poisoned(DType dtype, long... dims) {
        Pair p = empty(dtype, dims);
        p.cpu.fill(Double.NaN, cpuStream);
        p.gpu.fill(Double.NaN, stream);
        return p;
    }

    private Pair poisoned(long... dims) {
        return poisoned(DType.FP32, dims);
    }

    private Pair ints(int bound, long... dims) {
        Pair p = empty(DType.INT32, dims);
        int[] v = random.ints((int) p.cpu.numel(), 0, bound).toArray();
        p.cpu.copyFrom(v, cpuStream);
        p.gpu.copyFrom(v, stream);
        return p;
    }

    private void assertSame(Pair p, double tolerance, String what) {
        float[] want = p.cpu.toFloatArray(cpuStream);
        float[] got = p.gpu.toFloatArray(stream);
        double num = 0;
        double den = 0;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]) || !Float.isFinite(want[i]), what + ": element " + i + " is " + got[i]);
            num += (got[i] - want[i]) * (double) (got[i] - want[i]);
            den += want[i] * (double) want[i];
        }
        double error = Math.sqrt(num / Math.max(den, 1e-30));
        assertTrue(error <= tolerance, what + ": relative error " + error + " > " + tolerance);
    }

    @Test
    void everyKernelFamilyLoadsOnceFromNvrtcOrTheProcessThenIsLoaded(@TempDir Path cache) {
        try (CudaBackend cached = new CudaBackend(stream, memory, CudaBackendOptions.DEFAULT.withKernelCache(cache))) {
            List<KernelLoad> first = cached.loadKernels();
            assertEquals(Kernel.Family.values().length, first.size(), first.toString());
            for (KernelLoad load : first) {
                assertTrue(load.origin() == KernelLoad.Origin.NVRTC || load.origin() == KernelLoad.Origin.PROCESS,
                        load.toString());
            }
            assertTrue(cached.loadKernels().stream().allMatch(l -> l.origin() == KernelLoad.Origin.LOADED));
            long written = first.stream().filter(l -> l.origin() == KernelLoad.Origin.NVRTC).count();
            try (var files = Files.list(cache)) {
                assertEquals(written, files.filter(f -> f.toString().endsWith(".cubin")).count(),
                        "every family compiled here is written to the cache");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @Test
    void gemmInEveryLayoutAndPrecision() {
        for (Transpose ta : Transpose.values()) {
            for (Transpose tb : Transpose.values()) {
                int m = 67;
                int n = 45;
                int k = 129;
                Pair a = random(ta.isTransposed() ? new long[]{k, m} : new long[]{m, k});
                Pair b = random(tb.isTransposed() ? new long[]{n, k} : new long[]{k, n});
                Pair c = random(m, n);
                cpu.gemm(a.cpu, ta, b.cpu, tb, c.cpu, 0.75f, 0.5f);
                cuda.gemm(a.gpu, ta, b.gpu, tb, c.gpu, 0.75f, 0.5f);
                assertSame(c, FP32, "gemm " + ta + " " + tb);
            }
        }
        Pair a = random(DType.BF16, 3, 33, 17);
        Pair b = random(DType.BF16, 3, 17, 9);
        Pair c = poisoned(3, 33, 9);
        cpu.gemm(a.cpu, Transpose.NONE, b.cpu, Transpose.NONE, c.cpu, 1, 0);
        cuda.gemm(a.gpu, Transpose.NONE, b.gpu, Transpose.NONE, c.gpu, 1, 0);
        assertSame(c, 1e-5, "batched bf16 gemm, fp32 out");
    }

    @Test
    void elementwiseOperations() {
        Pair x = random(37, 53);
        Pair bias = random(53);
        cpu.addBias(x.cpu, bias.cpu);
        cuda.addBias(x.gpu, bias.gpu);
        assertSame(x, FP32, "addBias");
        Pair dbias = random(53);
        cpu.biasBackward(x.cpu, dbias.cpu);
        cuda.biasBackward(x.gpu, dbias.gpu);
        assertSame(dbias, FP32, "biasBackward");
        Pair y = random(37, 53);
        Pair sum = poisoned(37, 53);
        cpu.add(x.cpu, y.cpu, sum.cpu);
        cuda.add(x.gpu, y.gpu, sum.gpu);
        assertSame(sum, FP32, "add");
        cpu.scale(sum.cpu, -1.5f);
        cuda.scale(sum.gpu, -1.5f);
        assertSame(sum, FP32, "scale");
        Pair g = poisoned(37, 53);
        cpu.gelu(x.cpu, g.cpu);
        cuda.gelu(x.gpu, g.gpu);
        assertSame(g, FP32, "gelu");
        Pair dx = poisoned(37, 53);
        cpu.geluBackward(x.cpu, y.cpu, dx.cpu);
        cuda.geluBackward(x.gpu, y.gpu, dx.gpu);
        assertSame(dx, FP32, "geluBackward");
        Pair flag = empty(DType.INT32, 1);
        flag.cpu.fill(0, cpuStream);
        flag.gpu.fill(0, stream);
        cpu.scaleAndCheckFinite(x.cpu, 0.25f, flag.cpu);
        cuda.scaleAndCheckFinite(x.gpu, 0.25f, flag.gpu);
        assertSame(x, FP32, "scaleAndCheckFinite");
        assertArrayEquals(new int[]{0}, flag.gpu.toIntArray(stream));
        cuda.scaleAndCheckFinite(x.gpu, Float.POSITIVE_INFINITY, flag.gpu);
        assertArrayEquals(new int[]{1}, flag.gpu.toIntArray(stream));
        Pair squares = random(1);
        Pair big = random(100_003);
        cpu.sumOfSquares(big.cpu, squares.cpu);
        cuda.sumOfSquares(big.gpu, squares.gpu);
        assertSame(squares, 1e-5, "sumOfSquares");
    }

    @Test
    void castsAreBitExact() {
        Pair src = random(1001);
        for (DType to : new DType[]{DType.BF16, DType.FP16}) {
            Pair dst = poisoned(to, 1001);
            cpu.cast(src.cpu, dst.cpu);
            cuda.cast(src.gpu, dst.gpu);
            assertArrayEquals(dst.cpu.toFloatArray(cpuStream), dst.gpu.toFloatArray(stream), "fp32 -> " + to);
            Pair back = poisoned(1001);
            cpu.cast(dst.cpu, back.cpu);
            cuda.cast(dst.gpu, back.gpu);
            assertArrayEquals(back.cpu.toFloatArray(cpuStream), back.gpu.toFloatArray(stream), to + " -> fp32");
        }
    }

    @Test
    void layerNormAndSoftmax() {
        int n = 41;
        int c = 77;
        Pair in = random(n, c);
        Pair w = random(c);
        Pair b = random(c);
        Pair out = poisoned(n, c);
        Pair mean = poisoned(n);
        Pair rstd = poisoned(n);
        cpu.layerNorm(in.cpu, w.cpu, b.cpu, 1e-5f, out.cpu, mean.cpu, rstd.cpu);
        cuda.layerNorm(in.gpu, w.gpu, b.gpu, 1e-5f, out.gpu, mean.gpu, rstd.gpu);
        assertSame(out, FP32, "layerNorm");
        assertSame(rstd, FP32, "layerNorm rstd");
        Pair dout = random(n, c);
        Pair din = poisoned(n, c);
        Pair dw = random(c);
        Pair db = random(c);
        cpu.layerNormBackward(dout.cpu, in.cpu, w.cpu, mean.cpu, rstd.cpu, din.cpu, dw.cpu, db.cpu);
        cuda.layerNormBackward(dout.gpu, in.gpu, w.gpu, mean.gpu, rstd.gpu, din.gpu, dw.gpu, db.gpu);
        assertSame(din, 1e-4, "layerNormBackward din");
        assertSame(dw, FP32, "layerNormBackward dweight");
        assertSame(db, FP32, "layerNormBackward dbias");
        Pair p = poisoned(n, c);
        cpu.softmax(in.cpu, p.cpu);
        cuda.softmax(in.gpu, p.gpu);
        assertSame(p, FP32, "softmax");
    }

    @Test
    void attentionForwardAndBackward() {
        int b = 2;
        int t = 13;
        int nh = 3;
        int c = 24;
        Pair qkv = random(b, t, 3 * c);
        Pair out = poisoned(b, t, c);
        Pair att = poisoned(b, nh, t, t);
        cpu.attention(qkv.cpu, nh, out.cpu, att.cpu);
        cuda.attention(qkv.gpu, nh, out.gpu, att.gpu);
        assertSame(out, 1e-5, "attention out");
        assertSame(att, 1e-5, "attention probabilities");
        Pair dout = random(b, t, c);
        Pair dqkv = poisoned(b, t, 3 * c);
        cpu.attentionBackward(dout.cpu, qkv.cpu, att.cpu, nh, dqkv.cpu);
        cuda.attentionBackward(dout.gpu, qkv.gpu, att.gpu, nh, dqkv.gpu);
        assertSame(dqkv, 1e-4, "attentionBackward");
    }

    @Test
    void groupedQueryAttentionForwardAndBackward() {
        int b = 2;
        int t = 11;
        int nh = 6;
        int nkv = 2;
        int hs = 8;
        int w = (nh + 2 * nkv) * hs;
        Pair qkv = random(b, t, w);
        Pair out = poisoned(b, t, nh * hs);
        Pair att = poisoned(b, nh, t, t);
        cpu.attention(qkv.cpu, nh, nkv, out.cpu, att.cpu);
        cuda.attention(qkv.gpu, nh, nkv, out.gpu, att.gpu);
        assertSame(out, 1e-5, "GQA out");
        assertSame(att, 1e-5, "GQA probabilities");
        Pair dout = random(b, t, nh * hs);
        Pair dqkv = poisoned(b, t, w);
        cpu.attentionBackward(dout.cpu, qkv.cpu, att.cpu, nh, nkv, dqkv.cpu);
        cuda.attentionBackward(dout.gpu, qkv.gpu, att.gpu, nh, nkv, dqkv.gpu);
        assertSame(dqkv, 1e-4, "GQA backward");
    }

    @Test
    void llamaOps() {
        int n = 37;
        int c = 96;
        Pair in = random(n, c);
        Pair w = random(c);
        Pair out = poisoned(n, c);
        Pair rstd = poisoned(n);
        cpu.rmsNorm(in.cpu, w.cpu, 1e-5f, out.cpu, rstd.cpu);
        cuda.rmsNorm(in.gpu, w.gpu, 1e-5f, out.gpu, rstd.gpu);
        assertSame(out, FP32, "rmsNorm");
        assertSame(rstd, FP32, "rmsNorm rstd");
        Pair dout = random(n, c);
        Pair din = poisoned(n, c);
        Pair dw = random(c);
        cpu.rmsNormBackward(dout.cpu, in.cpu, w.cpu, rstd.cpu, din.cpu, dw.cpu);
        cuda.rmsNormBackward(dout.gpu, in.gpu, w.gpu, rstd.gpu, din.gpu, dw.gpu);
        assertSame(din, 1e-4, "rmsNormBackward din");
        assertSame(dw, FP32, "rmsNormBackward dweight");

        int b = 2;
        int t = 9;
        int hs = 16;
        var freqs = new dev.gatun.ops.RotaryFrequencies(hs, 500_000,
                new dev.gatun.ops.RotaryFrequencies.Llama3Scaling(32, 1, 4, 8));
        Pair cos = empty(DType.FP32, t, hs / 2);
        Pair sin = empty(DType.FP32, t, hs / 2);
        cos.cpu.copyFrom(freqs.cosTable(t), cpuStream);
        cos.gpu.copyFrom(freqs.cosTable(t), stream);
        sin.cpu.copyFrom(freqs.sinTable(t), cpuStream);
        sin.gpu.copyFrom(freqs.sinTable(t), stream);
        Pair x = random(b, t, 5 * hs);
        Pair rotated = poisoned(b, t, 5 * hs);
        cpu.rotary(x.cpu, 3, cos.cpu, sin.cpu, false, rotated.cpu);
        cuda.rotary(x.gpu, 3, cos.gpu, sin.gpu, false, rotated.gpu);
        assertSame(rotated, FP32, "rotary");
        cpu.rotary(rotated.cpu, 3, cos.cpu, sin.cpu, true, rotated.cpu);
        cuda.rotary(rotated.gpu, 3, cos.gpu, sin.gpu, true, rotated.gpu);
        assertSame(rotated, FP32, "rotary inverse in place");

        Pair gateUp = random(n, 2 * c);
        Pair act = poisoned(n, c);
        cpu.swiglu(gateUp.cpu, act.cpu);
        cuda.swiglu(gateUp.gpu, act.gpu);
        assertSame(act, FP32, "swiglu");
        Pair dact = random(n, c);
        Pair dgateUp = poisoned(n, 2 * c);
        cpu.swigluBackward(gateUp.cpu, dact.cpu, dgateUp.cpu);
        cuda.swigluBackward(gateUp.gpu, dact.gpu, dgateUp.gpu);
        assertSame(dgateUp, FP32, "swigluBackward");
    }

    @Test
    void embeddingAndCrossEntropy() {
        int b = 3;
        int t = 7;
        int c = 19;
        int v = 101;
        Pair tokens = ints(v, b, t);
        Pair wte = random(v, c);
        Pair wpe = random(t + 2, c);
        Pair out = poisoned(b, t, c);
        cpu.embedding(tokens.cpu, wte.cpu, wpe.cpu, out.cpu);
        cuda.embedding(tokens.gpu, wte.gpu, wpe.gpu, out.gpu);
        assertSame(out, 0, "embedding");
        Pair dout = random(b, t, c);
        Pair dwte = random(v, c);
        Pair dwpe = random(t + 2, c);
        cpu.embeddingBackward(dout.cpu, tokens.cpu, dwte.cpu, dwpe.cpu);
        cuda.embeddingBackward(dout.gpu, tokens.gpu, dwte.gpu, dwpe.gpu);
        assertSame(dwte, FP32, "embeddingBackward dwte");
        assertSame(dwpe, FP32, "embeddingBackward dwpe");
        Pair logits = random(b * t, v);
        Pair targets = ints(v, b * t);
        Pair losses = poisoned(b * t);
        Pair dlogits = poisoned(b * t, v);
        cpu.crossEntropy(logits.cpu, targets.cpu, 1f / (b * t), losses.cpu, dlogits.cpu);
        cuda.crossEntropy(logits.gpu, targets.gpu, 1f / (b * t), losses.gpu, dlogits.gpu);
        assertSame(losses, FP32, "crossEntropy losses");
        assertSame(dlogits, FP32, "crossEntropy dlogits");
    }

    @Test
    void vocabularySlicesOfEmbeddingAndCrossEntropy() {
        int n = 21;
        int c = 19;
        int v = 101;
        int s = 40; // the second of three slices of a vocabulary padded to 120: ids [40, 80)
        VocabSlice slice = new VocabSlice(40, v);
        VocabSlice last = new VocabSlice(80, v); // 21 real ids, 19 padding columns
        Pair tokens = ints(v, 3, 7);
        Pair wte = random(s, c);
        Pair out = poisoned(3, 7, c);
        cpu.vocabEmbedding(tokens.cpu, wte.cpu, slice, out.cpu);
        cuda.vocabEmbedding(tokens.gpu, wte.gpu, slice, out.gpu);
        assertSame(out, 0, "vocabEmbedding");
        Pair dout = random(3, 7, c);
        Pair dwte = random(s, c);
        cpu.vocabEmbeddingBackward(dout.cpu, tokens.cpu, slice, dwte.cpu);
        cuda.vocabEmbeddingBackward(dout.gpu, tokens.gpu, slice, dwte.gpu);
        assertSame(dwte, FP32, "vocabEmbeddingBackward");
        for (VocabSlice sl : List.of(slice, last)) {
            Pair logits = random(n, s);
            Pair targets = ints(v, n);
            Pair max = poisoned(n);
            Pair target = poisoned(n);
            Pair sumExp = poisoned(n);
            Pair losses = poisoned(n);
            Pair dlogits = poisoned(n, s);
            cpu.vocabLogitStats(logits.cpu, targets.cpu, sl, max.cpu, target.cpu);
            cuda.vocabLogitStats(logits.gpu, targets.gpu, sl, max.gpu, target.gpu);
            assertSame(max, 0, "vocabLogitStats max " + sl);
            assertSame(target, 0, "vocabLogitStats target " + sl);
            cpu.vocabSumExp(logits.cpu, sl, max.cpu, sumExp.cpu);
            cuda.vocabSumExp(logits.gpu, sl, max.gpu, sumExp.gpu);
            assertSame(sumExp, FP32, "vocabSumExp " + sl);
            cpu.vocabCrossEntropy(logits.cpu, targets.cpu, sl, max.cpu, sumExp.cpu, target.cpu, 0.25f, losses.cpu,
                    dlogits.cpu);
            cuda.vocabCrossEntropy(logits.gpu, targets.gpu, sl, max.gpu, sumExp.gpu, target.gpu, 0.25f, losses.gpu,
                    dlogits.gpu);
            assertSame(losses, FP32, "vocabCrossEntropy losses " + sl);
            assertSame(dlogits, FP32, "vocabCrossEntropy dlogits " + sl);
        }
    }

    @Test
    void adamWStep() {
        Pair p = random(5003);
        Pair g = random(5003);
        Pair m = random(5003);
        Pair v = random(5003);
        v.cpu.fill(0.5, cpuStream);
        v.gpu.fill(0.5, stream);
        AdamWStep step = new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7);
        cpu.adamW(p.cpu, g.cpu, m.cpu, v.cpu, step);
        cuda.adamW(p.gpu, g.gpu, m.gpu, v.gpu, step);
        assertSame(p, 1e-6, "adamW param");
        assertSame(m, FP32, "adamW m");
        assertSame(v, FP32, "adamW v");
    }
}
