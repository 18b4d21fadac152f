package dev.gatun.ops;

import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.List;

import static dev.gatun.memory.DType.BF16;
import static dev.gatun.memory.DType.FP16;
import static dev.gatun.memory.DType.FP32;
import static dev.gatun.memory.DType.INT32;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link OpChecks}: what each operation accepts, and that every rejection says what was expected. */
class OpChecksTest {
    private static final Device CPU = Device.CPU;
    private final HostAllocator allocator = new HostAllocator();
    private final List<Tensor> live = new ArrayList<>();

    @AfterEach
    void free() {
        live.forEach(Tensor::close);
        allocator.close();
    }

    private Tensor t(String name, DType dtype, long... dims) {
        Tensor t = Tensor.allocate(allocator, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, name,
                DeviceStream.cpu());
        live.add(t);
        return t;
    }

    private static void rejects(String message, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }

    private static void rejectsMentioning(Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should mention '" + part + "'");
        }
    }

    @Test
    void layerNormDerivesRowsAndChecksEveryOtherTensorAgainstThem() {
        Tensor in = t("x", FP32, 2, 5, 12);
        Tensor w = t("ln.w", FP32, 12);
        Tensor b = t("ln.b", FP32, 12);
        Tensor out = t("y", FP32, 2, 5, 12);
        assertEquals(new OpChecks.RowDims(10, 12),
                OpChecks.layerNorm(CPU, in, w, b, 1e-5f, out, t("mean", FP32, 10), t("rstd", FP32, 2, 5)));
        rejects("layerNorm: weight ('ln.w16') must be fp32 [12], got bf16 [12]",
                () -> OpChecks.layerNorm(CPU, in, t("ln.w16", BF16, 12), b, 1e-5f, out, t("m", FP32, 10),
                        t("r", FP32, 10)));
        rejects("layerNorm: bias ('ln.b13') must be fp32 [12], got fp32 [13]",
                () -> OpChecks.layerNorm(CPU, in, w, t("ln.b13", FP32, 13), 1e-5f, out, t("m", FP32, 10),
                        t("r", FP32, 10)));
        rejects("layerNorm: mean ('m11') must be fp32 [10] or [2, 5], got fp32 [11]",
                () -> OpChecks.layerNorm(CPU, in, w, b, 1e-5f, out, t("m11", FP32, 11), t("r", FP32, 10)));
        rejects("layerNorm: out ('y2') must be fp32 [2, 5, 12], got fp32 [10, 12]",
                () -> OpChecks.layerNorm(CPU, in, w, b, 1e-5f, t("y2", FP32, 10, 12), t("m", FP32, 10),
                        t("r", FP32, 10)));
        rejects("layerNorm: eps must be finite and > 0, got 0.0",
                () -> OpChecks.layerNorm(CPU, in, w, b, 0f, out, t("m", FP32, 10), t("r", FP32, 10)));
        rejectsMentioning(() -> OpChecks.layerNorm(CPU, in, w, b, 1e-5f, in, t("m", FP32, 10), t("r", FP32, 10)),
                "layerNorm: out ('x') overlaps in ('x')");
    }

    @Test
    void everyTensorMustBeOnTheBackendsDevice() {
        Tensor a = t("a", FP32, 3);
        rejects("add: a ('a') must be on cuda:0 (the backend's device), got a tensor on cpu",
                () -> OpChecks.add(Device.cuda(0), a, a, t("out", FP32, 3)));
        NullPointerException e = assertThrows(NullPointerException.class, () -> OpChecks.add(CPU, a, null, a));
        assertEquals("add: b must not be null", e.getMessage());
    }

    @Test
    void outputsMayAliasInputsOnlyWhereTheBackendSaysSo() {
        Tensor a = t("a", FP32, 4, 8);
        Tensor b = t("b", FP32, 4, 8);
        assertEquals(32, OpChecks.add(CPU, a, b, a));
        assertEquals(32, OpChecks.add(CPU, a, b, b));
        assertEquals(32, OpChecks.gelu(CPU, a, a));
        Tensor buffer = t("buffer", FP32, 40);
        rejectsMentioning(() -> OpChecks.add(CPU, buffer.flat(0, 32).reshape(4, 8), b,
                        buffer.flat(8, 32).reshape(4, 8)), "add: out ('buffer') partly overlaps a ('buffer')");
        rejectsMentioning(() -> OpChecks.geluBackward(CPU, a, b, b), "geluBackward: din ('b') overlaps dout ('b')");
        rejectsMentioning(() -> OpChecks.softmax(CPU, a, a), "softmax: out ('a') overlaps in ('a')");
        Tensor targets = t("targets", INT32, 4);
        assertEquals(new OpChecks.RowDims(4, 8), OpChecks.crossEntropy(CPU, a, targets, t("losses", FP32, 4), a));
        rejectsMentioning(() -> OpChecks.adamW(CPU, a, b, a, t("v", FP32, 4, 8),
                new AdamWStep(1e-3f, 0.9f, 0.99f, 1e-8f, 0, 1)), "adamW: param ('a') overlaps m ('a')");
        rejectsMentioning(() -> OpChecks.cast(CPU, a, a), "cast: dst ('a') overlaps src ('a')");
    }

    @Test
    void attentionNeedsHeadsThatDivideC() {
        Tensor qkv = t("qkv", FP32, 2, 5, 36);
        Tensor out = t("out", FP32, 2, 5, 12);
        Tensor att = t("att", FP32, 2, 3, 5, 5);
        assertEquals(new OpChecks.AttentionDims(2, 5, 3, 4), OpChecks.attention(CPU, qkv, 3, out, att));
        rejects("attention: numHeads=5 must be > 0 and divide C=12 (qkv [2, 5, 36])",
                () -> OpChecks.attention(CPU, qkv, 5, out, t("att5", FP32, 2, 5, 5, 5)));
        rejects("attention: qkv ('qkv35') must be fp32 [B, T, 3C], got fp32 [2, 5, 35]",
                () -> OpChecks.attention(CPU, t("qkv35", FP32, 2, 5, 35), 3, out, att));
        rejects("attention: att ('att4') must be fp32 [2, 3, 5, 5], got fp32 [2, 3, 4, 4]",
                () -> OpChecks.attention(CPU, qkv, 3, out, t("att4", FP32, 2, 3, 4, 4)));
        rejects("attentionBackward: dqkv ('dqkv') must be fp32 [2, 5, 36], got fp32 [2, 5, 12]",
                () -> OpChecks.attentionBackward(CPU, out, qkv, att, 3, t("dqkv", FP32, 2, 5, 12)));
    }

    @Test
    void embeddingNeedsIntTokensAndTNotAboveMaxT() {
        Tensor tokens = t("tokens", INT32, 2, 5);
        Tensor wte = t("wte", FP32, 37, 12);
        Tensor out = t("out", FP32, 2, 5, 12);
        assertEquals(new OpChecks.EmbeddingDims(2, 5, 12, 37),
                OpChecks.embedding(CPU, tokens, wte, t("wpe", FP32, 5, 12), out));
        rejects("embedding: sequence length T=5 (tokens [2, 5]) exceeds maxT=4 (wpe [4, 12])",
                () -> OpChecks.embedding(CPU, tokens, wte, t("wpe4", FP32, 4, 12), out));
        rejects("embedding: tokens ('ftokens') must be int32, got fp32 [2, 5]",
                () -> OpChecks.embedding(CPU, t("ftokens", FP32, 2, 5), wte, t("wpe", FP32, 8, 12), out));
        rejects("embeddingBackward: dwpe ('dwpe') must be fp32 [maxT, 12] (C from dwte [37, 12]), got fp32 [8, 11]",
                () -> OpChecks.embeddingBackward(CPU, out, tokens, wte, t("dwpe", FP32, 8, 11)));
    }

    @Test
    void gemmDerivesSizesFromTheTranspositions() {
        GemmDims d = OpChecks.gemm(CPU, t("a", BF16, 3, 5, 7), Transpose.TRANSPOSE, t("b", BF16, 3, 11, 5),
                Transpose.TRANSPOSE, t("c", FP32, 3, 7, 11));
        assertEquals(new GemmDims(3, 7, 11, 5, Transpose.TRANSPOSE, Transpose.TRANSPOSE), d);
        assertEquals(7, d.lda());
        assertEquals(5, d.ldb());
        assertEquals(77, d.strideC());
        rejectsMentioning(() -> OpChecks.gemm(CPU, t("a", FP32, 5, 7), Transpose.NONE, t("b", FP32, 5, 7),
                Transpose.NONE, t("c", FP32, 5, 7)), "gemm: op(A) is [5, 7] but op(B) is [5, 7]");
        rejects("gemm: C ('c16') must be fp32 or bf16 (the dtype of A and B), got fp16 [5, 5]",
                () -> OpChecks.gemm(CPU, t("a", BF16, 5, 7), Transpose.NONE, t("b", BF16, 7, 5), Transpose.NONE,
                        t("c16", FP16, 5, 5)));
        rejectsMentioning(() -> OpChecks.gemm(CPU, t("a", BF16, 5, 7), Transpose.NONE, t("b", FP32, 7, 5),
                Transpose.NONE, t("c", FP32, 5, 5)), "gemm: A and B must share a dtype");
        rejects("gemm: C ('c') must be [5, 6] (op(A) [5, 7] times op(B) [7, 6]), got [5, 5]",
                () -> OpChecks.gemm(CPU, t("a", FP32, 5, 7), Transpose.NONE, t("b", FP32, 7, 6), Transpose.NONE,
                        t("c", FP32, 5, 5)));
        rejectsMentioning(() -> OpChecks.gemm(CPU, t("a", FP32, 2, 5, 7), Transpose.NONE, t("b", FP32, 3, 7, 5),
                Transpose.NONE, t("c", FP32, 2, 5, 5)), "one batch size");
        rejectsMentioning(() -> OpChecks.gemm(CPU, t("a", FP32, 35), Transpose.NONE, t("b", FP32, 7, 5),
                Transpose.NONE, t("c", FP32, 5, 5)), "all 2-D or all 3-D");
    }

    @Test
    void scalarsAreIntFlagsAndFloatSums() {
        Tensor x = t("x", FP32, 7);
        assertEquals(7, OpChecks.scaleAndCheckFinite(CPU, x, t("flag", INT32)));
        assertEquals(7, OpChecks.sumOfSquares(CPU, x, t("sum", FP32, 1)));
        rejects("scaleAndCheckFinite: flag ('f') must be a int32 scalar ([] or [1]), got fp32 [1]",
                () -> OpChecks.scaleAndCheckFinite(CPU, x, t("f", FP32, 1)));
        rejects("sumOfSquares: out ('s2') must be a fp32 scalar ([] or [1]), got fp32 [2]",
                () -> OpChecks.sumOfSquares(CPU, x, t("s2", FP32, 2)));
    }

    @Test
    void rowOperationsTakeAnyLeadingDimensions() {
        Tensor logits = t("logits", FP32, 2, 5, 37);
        assertEquals(new OpChecks.RowDims(10, 37), OpChecks.crossEntropy(CPU, logits, t("targets", INT32, 2, 5),
                t("losses", FP32, 10), t("dlogits", FP32, 2, 5, 37)));
        rejects("crossEntropy: targets ('ft') must be int32 [10] or [2, 5], got fp32 [10]",
                () -> OpChecks.crossEntropy(CPU, logits, t("ft", FP32, 10), t("losses", FP32, 10), logits));
        assertEquals(new OpChecks.RowDims(10, 12), OpChecks.addBias(CPU, t("out", FP32, 2, 5, 12), t("b", FP32, 12)));
        rejects("biasBackward: dbias ('db') must be fp32 [12], got fp32 [5]",
                () -> OpChecks.biasBackward(CPU, t("dout", FP32, 10, 12), t("db", FP32, 5)));
        rejects("softmax: in ('s') must be fp32 [N, C] (at least 1-D), got fp32 []",
                () -> OpChecks.softmax(CPU, t("s", FP32), t("o", FP32)));
    }
}
