package dev.gatun.ops.cpu;

import dev.gatun.ops.OpChecks.RotaryDims;

import java.lang.foreign.MemorySegment;

import static dev.gatun.ops.cpu.Lanes.get;
import static dev.gatun.ops.cpu.Lanes.set;

/**
 * The rotary embedding of {@link CpuBackend}: each row {@code (b, t)} of {@code x [B, T, W]} has the pairs
 * {@code (2i, 2i+1)} of its first {@code heads} heads turned by {@code ±t·ωᵢ} from the tables; the rest of the row is
 * copied unless the output is the input. Rows are split into tasks by {@link Parallel}.
 */
final class RotaryKernel {
    private final Parallel parallel;

    RotaryKernel(Parallel parallel) {
        this.parallel = parallel;
    }

    void rotary(MemorySegment x, MemorySegment cos, MemorySegment sin, boolean inverse, MemorySegment out,
                RotaryDims d, boolean inPlace) {
        int half = d.headSize() / 2;
        int rotated = d.heads() * d.headSize();
        float sign = inverse ? -1f : 1f;
        parallel.forEach(Parallel.Split.of((long) d.batch() * d.seqLen(), 2L * d.width()), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long position = r % d.seqLen();
                long row = r * d.width();
                for (int h = 0; h < d.heads(); h++) {
                    long head = row + (long) h * d.headSize();
                    for (int i = 0; i < half; i++) {
                        float c = get(cos, position * half + i);
                        float s = sign * get(sin, position * half + i);
                        float x0 = get(x, head + 2L * i);
                        float x1 = get(x, head + 2L * i + 1);
                        set(out, head + 2L * i, x0 * c - x1 * s);
                        set(out, head + 2L * i + 1, x0 * s + x1 * c);
                    }
                }
                if (!inPlace && rotated < d.width()) {
                    MemorySegment.copy(x, (row + rotated) * Float.BYTES, out, (row + rotated) * Float.BYTES,
                            (long) (d.width() - rotated) * Float.BYTES);
                }
            }
        });
    }
}
