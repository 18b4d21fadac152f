package dev.gatun.ops.cpu;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.gatun.ops.cpu.Lanes.F;
import static dev.gatun.ops.cpu.Lanes.LENGTH;
import static dev.gatun.ops.cpu.Lanes.bound;
import static dev.gatun.ops.cpu.Lanes.get;
import static dev.gatun.ops.cpu.Lanes.load;
import static dev.gatun.ops.cpu.Lanes.set;

/**
 * The vocabulary-parallel kernels of {@link CpuBackend}: the embedding of the ids one rank holds (rows
 * {@code [offset, offset + S)} of the table) and the three cross-entropy passes over that rank's logit columns, of
 * which the first {@code valid} are real ids. Rows are independent and split by {@link Parallel}; the embedding's
 * scatter-add is split by column blocks, each adding positions in order, so it is deterministic without locks. Ids and
 * targets are in range (the caller checks).
 */
final class VocabKernels {
    private final Parallel parallel;

    VocabKernels(Parallel parallel) {
        this.parallel = parallel;
    }

    /** {@code out[n] = wte[tokens[n] − offset]} for held ids, else 0; {@code wte [rows, c]}. */
    void embedding(MemorySegment tokens, MemorySegment wte, MemorySegment out, int ids, int c, int rows, int offset) {
        long rowBytes = (long) c * Float.BYTES;
        parallel.forEach(Parallel.Split.of(ids, c), (lo, hi) -> {
            for (long n = lo; n < hi; n++) {
                int local = tokens.getAtIndex(ValueLayout.JAVA_INT, n) - offset;
                if (local >= 0 && local < rows) {
                    MemorySegment.copy(wte, local * rowBytes, out, n * rowBytes, rowBytes);
                } else {
                    out.asSlice(n * rowBytes, rowBytes).fill((byte) 0);
                }
            }
        });
    }

    /** {@code dwte[tokens[n] − offset] += dout[n]} for held ids, positions in order within each column block. */
    void embeddingBackward(MemorySegment dout, MemorySegment tokens, MemorySegment dwte, int ids, int c, int rows,
                           int offset) {
        long width = Math.max(1, Parallel.GRAIN / Math.max(1, ids));
        width = (width + LENGTH - 1) / LENGTH * LENGTH;
        parallel.forEach(Parallel.Split.fixed(c, width), (lo, hi) -> {
            for (long n = 0; n < ids; n++) {
                int local = tokens.getAtIndex(ValueLayout.JAVA_INT, n) - offset;
                if (local >= 0 && local < rows) {
                    Lanes.accumulate(dwte, (long) local * c + lo, dout, n * c + lo, hi - lo);
                }
            }
        });
    }

    /** Pass 1: the row maximum over the valid columns and the held target's logit (else 0). */
    void logitStats(MemorySegment logits, MemorySegment targets, MemorySegment max, MemorySegment targetLogit,
                    int rows, int columns, int offset, int valid) {
        parallel.forEach(Parallel.Split.of(rows, valid), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                set(max, r, Lanes.max(logits, row, valid));
                int local = targets.getAtIndex(ValueLayout.JAVA_INT, r) - offset;
                set(targetLogit, r, local >= 0 && local < valid ? get(logits, row + local) : 0f);
            }
        });
    }

    /** Pass 2: {@code Σ_{j<valid} exp(z − max)}, summed in double in a fixed order. */
    void sumExp(MemorySegment logits, MemorySegment max, MemorySegment sumExp, int rows, int columns, int valid) {
        parallel.forEach(Parallel.Split.of(rows, 2L * valid), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                float m = get(max, r);
                double total = 0;
                int j = 0;
                int end = (int) bound(valid);
                while (j < end) {
                    int blockEnd = Math.min(end, j + RowKernels.BLOCK);
                    FloatVector acc = FloatVector.zero(F);
                    for (; j < blockEnd; j += LENGTH) {
                        acc = acc.add(ExactMath.exp(load(logits, row + j).sub(m)));
                    }
                    total += Lanes.laneSum(acc);
                }
                for (; j < valid; j++) {
                    total += ExactMath.exp(get(logits, row + j) - m);
                }
                set(sumExp, r, (float) total);
            }
        });
    }

    /** Pass 3: the loss and {@code (softmax − onehot)·scale} over the valid columns, 0 over the padding. */
    void crossEntropy(MemorySegment logits, MemorySegment targets, MemorySegment max, MemorySegment sumExp,
                      MemorySegment targetLogit, float dlossScale, MemorySegment losses, MemorySegment dlogits,
                      int rows, int columns, int offset, int valid) {
        parallel.forEach(Parallel.Split.of(rows, 3L * columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                float m = get(max, r);
                float s = get(sumExp, r);
                set(losses, r, (float) (StrictMath.log(s) + m - get(targetLogit, r)));
                RowKernels.expInto(logits, dlogits, row, valid, m);
                RowKernels.scaleRow(dlogits, row, valid, dlossScale / s);
                dlogits.asSlice((row + valid) * Float.BYTES, (long) (columns - valid) * Float.BYTES).fill((byte) 0);
                int local = targets.getAtIndex(ValueLayout.JAVA_INT, r) - offset;
                if (local >= 0 && local < valid) {
                    set(dlogits, row + local, get(dlogits, row + local) - dlossScale);
                }
            }
        });
    }
}
