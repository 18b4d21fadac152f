package dev.gatun.ops;

import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.util.Arrays;
import java.util.Objects;

import static dev.gatun.ops.OpChecks.disjoint;
import static dev.gatun.ops.OpChecks.disjointUnlessSame;
import static dev.gatun.ops.OpChecks.expect;
import static dev.gatun.ops.OpChecks.expectDtype;
import static dev.gatun.ops.OpChecks.expectPerRow;
import static dev.gatun.ops.OpChecks.on;
import static dev.gatun.ops.OpChecks.quoted;
import static dev.gatun.ops.OpChecks.rows;
import static dev.gatun.ops.OpChecks.toInt;
import static dev.gatun.ops.OpChecks.typed;

/**
 * The argument checks of the vocabulary-parallel {@link Backend} operations ({@code vocabEmbedding…},
 * {@code vocab…} cross-entropy passes), in the style and with the messages of {@link OpChecks}. Id and target values
 * are not read here.
 */
public final class VocabChecks {
    private VocabChecks() {
    }

    /** Sizes of a vocabulary-sharded embedding: {@code N} ids, {@code C} channels, {@code S} local table rows. */
    public record EmbeddingShardDims(int ids, int channels, int rows) {
    }

    /** {@link Backend#vocabEmbedding}: int32 ids, fp32 {@code wte [S, C]}, {@code out [ids' shape…, C]} apart. */
    public static EmbeddingShardDims embedding(Device device, Tensor tokens, Tensor wte, VocabSlice slice,
                                               Tensor out) {
        String op = "vocabEmbedding";
        on(device, op, "tokens", tokens, "wte", wte, "out", out);
        EmbeddingShardDims e = dims(op, tokens, "wte", wte, slice);
        expect(op, "out", out, DType.FP32, withChannels(tokens, e.channels()));
        disjoint(op, "out", out, "tokens", tokens, "wte", wte);
        return e;
    }

    /** {@link Backend#vocabEmbeddingBackward}: as {@link #embedding}, {@code dwte} apart from the inputs. */
    public static EmbeddingShardDims embeddingBackward(Device device, Tensor dout, Tensor tokens, VocabSlice slice,
                                                       Tensor dwte) {
        String op = "vocabEmbeddingBackward";
        on(device, op, "dout", dout, "tokens", tokens, "dwte", dwte);
        EmbeddingShardDims e = dims(op, tokens, "dwte", dwte, slice);
        expect(op, "dout", dout, DType.FP32, withChannels(tokens, e.channels()));
        disjoint(op, "dwte", dwte, "dout", dout, "tokens", tokens);
        return e;
    }

    /** {@link Backend#vocabLogitStats}: logits fp32 {@code [N, S]}, int32 targets and fp32 outputs {@code [N]}. */
    public static OpChecks.RowDims logitStats(Device device, Tensor logits, Tensor targets, VocabSlice slice,
                                              Tensor max, Tensor targetLogit) {
        String op = "vocabLogitStats";
        on(device, op, "logits", logits, "targets", targets, "max", max, "targetLogit", targetLogit);
        Objects.requireNonNull(slice, op + ": slice must not be null");
        OpChecks.RowDims r = rows(op, "logits", logits);
        expectPerRow(op, "targets", targets, DType.INT32, logits, r);
        expectPerRow(op, "max", max, DType.FP32, logits, r);
        expectPerRow(op, "targetLogit", targetLogit, DType.FP32, logits, r);
        disjoint(op, "max", max, "logits", logits, "targets", targets, "targetLogit", targetLogit);
        disjoint(op, "targetLogit", targetLogit, "logits", logits, "targets", targets);
        return r;
    }

    /** {@link Backend#vocabSumExp}: logits fp32 {@code [N, S]}, fp32 {@code max} and {@code sumExp [N]} apart. */
    public static OpChecks.RowDims sumExp(Device device, Tensor logits, VocabSlice slice, Tensor max, Tensor sumExp) {
        String op = "vocabSumExp";
        on(device, op, "logits", logits, "max", max, "sumExp", sumExp);
        Objects.requireNonNull(slice, op + ": slice must not be null");
        OpChecks.RowDims r = rows(op, "logits", logits);
        expectPerRow(op, "max", max, DType.FP32, logits, r);
        expectPerRow(op, "sumExp", sumExp, DType.FP32, logits, r);
        disjoint(op, "sumExp", sumExp, "logits", logits, "max", max);
        return r;
    }

    /**
     * {@link Backend#vocabCrossEntropy}: as {@link #logitStats} with {@code sumExp}, {@code losses [N]} apart from
     * everything, and {@code dlogits} like {@code logits}, either {@code logits} itself or apart from it.
     */
    public static OpChecks.RowDims crossEntropy(Device device, Tensor logits, Tensor targets, VocabSlice slice,
                                                Tensor max, Tensor sumExp, Tensor targetLogit, Tensor losses,
                                                Tensor dlogits) {
        String op = "vocabCrossEntropy";
        on(device, op, "logits", logits, "targets", targets, "max", max, "sumExp", sumExp, "targetLogit",
                targetLogit, "losses", losses, "dlogits", dlogits);
        Objects.requireNonNull(slice, op + ": slice must not be null");
        OpChecks.RowDims r = rows(op, "logits", logits);
        expectPerRow(op, "targets", targets, DType.INT32, logits, r);
        expectPerRow(op, "max", max, DType.FP32, logits, r);
        expectPerRow(op, "sumExp", sumExp, DType.FP32, logits, r);
        expectPerRow(op, "targetLogit", targetLogit, DType.FP32, logits, r);
        expectPerRow(op, "losses", losses, DType.FP32, logits, r);
        expect(op, "dlogits", dlogits, DType.FP32, logits.shape());
        disjointUnlessSame(op, "dlogits", dlogits, "logits", logits);
        disjoint(op, "dlogits", dlogits, "targets", targets, "max", max, "sumExp", sumExp, "targetLogit",
                targetLogit);
        disjoint(op, "losses", losses, "logits", logits, "targets", targets, "max", max, "sumExp", sumExp,
                "targetLogit", targetLogit, "dlogits", dlogits);
        return r;
    }

    private static EmbeddingShardDims dims(String op, Tensor tokens, String tableArg, Tensor table, VocabSlice slice) {
        Objects.requireNonNull(slice, op + ": slice must not be null");
        expectDtype(op, "tokens", tokens, DType.INT32);
        expectDtype(op, tableArg, table, DType.FP32);
        if (table.shape().rank() != 2) {
            throw new IllegalArgumentException(op + ": " + tableArg + " " + quoted(table)
                    + " must be fp32 [S, C] (this rank's rows of the table), got " + typed(table));
        }
        int n = toInt(op, "N (tokens)", tokens.numel());
        int rows = toInt(op, "S", table.shape().dim(0));
        int c = toInt(op, "C", table.shape().dim(1));
        toInt(op, "N·C", (long) n * c);
        return new EmbeddingShardDims(n, c, rows);
    }

    private static Shape withChannels(Tensor tokens, int channels) {
        long[] dims = tokens.shape().dims();
        long[] out = Arrays.copyOf(dims, dims.length + 1);
        out[dims.length] = channels;
        return Shape.of(out);
    }
}
