package dev.gatun.tp;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.cpu.CpuBackend;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs a body on each rank of an in-process tensor-parallel group with a CPU backend, and compares results. */
final class TpTesting {
    static final double FP32_TOL = 1e-5;

    private TpTesting() {
    }

    /** What a rank's body gets. */
    record Rank(Communicator comm, CpuBackend backend, HostAllocator allocator, Mappings mappings) {
        int tp() {
            return comm.size();
        }

        int rank() {
            return comm.rank();
        }

        Tensor tensor(String name, float[] values, long... dims) {
            Tensor t = Tensor.allocate(allocator, DType.FP32, Shape.of(dims), MemoryCategory.ACTIVATIONS, name,
                    backend.stream());
            t.copyFrom(values, backend.stream());
            return t;
        }

        Tensor ints(String name, int[] values) {
            Tensor t = Tensor.allocate(allocator, DType.INT32, Shape.of(values.length), MemoryCategory.ACTIVATIONS,
                    name, backend.stream());
            t.copyFrom(values, backend.stream());
            return t;
        }

        float[] read(Tensor t) {
            return t.toFloatArray(backend.stream());
        }
    }

    interface Body<R> {
        R run(Rank rank) throws Exception;
    }

    /** Runs {@code body} on {@code tp} ranks; each rank's allocator must end with nothing live. */
    static <R> List<R> run(int tp, Body<R> body) {
        return InProcessWorld.run(tp, comm -> {
            try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator()) {
                return body.run(new Rank(comm, backend, allocator, new Mappings(comm, allocator, backend.stream())));
            }
        });
    }

    /** Fresh Gaussian values, a different stream per {@code tag}. */
    static float[] random(String tag, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ParameterInit.gaussian(1234, tag, i, 1.0);
        }
        return v;
    }

    /** Columns {@code [offset, offset + width)} of row-major {@code [rows, cols]}. */
    static float[] columns(float[] full, int rows, int cols, int offset, int width) {
        float[] out = new float[rows * width];
        for (int n = 0; n < rows; n++) {
            System.arraycopy(full, n * cols + offset, out, n * width, width);
        }
        return out;
    }

    /** Concatenation along the last dimension of equal-width row-major shards. */
    static float[] concatColumns(List<float[]> shards, int rows) {
        int width = shards.getFirst().length / rows;
        int cols = width * shards.size();
        float[] out = new float[rows * cols];
        for (int r = 0; r < shards.size(); r++) {
            for (int n = 0; n < rows; n++) {
                System.arraycopy(shards.get(r), n * width, out, n * cols + r * width, width);
            }
        }
        return out;
    }

    /** Concatenation along the first dimension. */
    static float[] concatRows(List<float[]> shards) {
        int len = shards.stream().mapToInt(a -> a.length).sum();
        float[] out = new float[len];
        int at = 0;
        for (float[] s : shards) {
            System.arraycopy(s, 0, out, at, s.length);
            at += s.length;
        }
        return out;
    }

    static double relativeError(float[] out, double[] ref) {
        if (out.length != ref.length) {
            throw new AssertionError("length " + out.length + " != reference length " + ref.length);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < out.length; i++) {
            double d = out[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    }

    static void assertClose(String what, float[] out, float[] ref) {
        double[] r = new double[ref.length];
        for (int i = 0; i < ref.length; i++) {
            r[i] = ref[i];
        }
        assertClose(what, out, r);
    }

    static void assertClose(String what, float[] out, double[] ref) {
        double err = relativeError(out, ref);
        assertTrue(err <= FP32_TOL, what + ": relative error " + err + " > " + FP32_TOL);
    }
}
