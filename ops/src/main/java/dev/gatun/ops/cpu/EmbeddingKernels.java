package dev.gatun.ops.cpu;

import dev.gatun.ops.OpChecks.EmbeddingDims;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.gatun.ops.cpu.Lanes.LENGTH;
import static dev.gatun.ops.cpu.Lanes.bound;
import static dev.gatun.ops.cpu.Lanes.get;
import static dev.gatun.ops.cpu.Lanes.load;
import static dev.gatun.ops.cpu.Lanes.set;
import static dev.gatun.ops.cpu.Lanes.store;

/**
 * Token + position embedding of {@link CpuBackend}, forward and backward. The backward's scatter-add into {@code dwte}
 * is split by column blocks, each adding the rows of {@code dout} in token order, so repeated tokens need no locks and
 * the result is deterministic.
 */
final class EmbeddingKernels {
    private final Parallel parallel;

    EmbeddingKernels(Parallel parallel) {
        this.parallel = parallel;
    }

    /** {@code out[b, t] = wte[tokens[b, t]] + wpe[t]}; ids must be in {@code [0, V)} (the caller checks). */
    void forward(MemorySegment tokens, MemorySegment wte, MemorySegment wpe, MemorySegment out, EmbeddingDims e) {
        int c = e.channels();
        int t = e.seqLen();
        parallel.forEach(Parallel.Split.of((long) e.batch() * t, c), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long token = (long) tokens.getAtIndex(ValueLayout.JAVA_INT, r) * c;
                long position = (r % t) * c;
                long row = r * c;
                int j = 0;
                for (int end = (int) bound(c); j < end; j += LENGTH) {
                    store(load(wte, token + j).add(load(wpe, position + j)), out, row + j);
                }
                for (; j < c; j++) {
                    set(out, row + j, get(wte, token + j) + get(wpe, position + j));
                }
            }
        });
    }

    /** {@code dwte[tokens[b, t]] += dout[b, t]}, {@code dwpe[t] += Σ_b dout[b, t]}; ids as in {@link #forward}. */
    void backward(MemorySegment dout, MemorySegment tokens, MemorySegment dwte, MemorySegment dwpe, EmbeddingDims e) {
        int c = e.channels();
        int t = e.seqLen();
        long rows = (long) e.batch() * t;
        long width = Math.max(1, Parallel.GRAIN / Math.max(1, rows));
        width = (width + LENGTH - 1) / LENGTH * LENGTH;
        parallel.forEach(Parallel.Split.fixed(c, width), (lo, hi) -> {
            for (long r = 0; r < rows; r++) {
                long token = (long) tokens.getAtIndex(ValueLayout.JAVA_INT, r) * c;
                Lanes.accumulate(dwte, token + lo, dout, r * c + lo, hi - lo);
            }
        });
        parallel.forEach(Parallel.Split.of(t, (long) e.batch() * c), (lo, hi) -> {
            for (long position = lo; position < hi; position++) {
                for (long b = 0; b < e.batch(); b++) {
                    Lanes.accumulate(dwpe, position * c, dout, (b * t + position) * c, c);
                }
            }
        });
    }
}
