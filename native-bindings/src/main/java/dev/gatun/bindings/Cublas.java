package dev.gatun.bindings;

import dev.gatun.bindings.raw.cublas.cublas_v2_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Status-checked facade over cuBLAS ({@code libcublas}, the exported {@code _v2} entry points). Errors throw
 * {@link CublasException}. cuBLAS is column-major: callers that hold row-major matrices compute
 * {@code C^T = op(B)^T op(A)^T} by swapping the operands (see the ops module).
 */
public final class Cublas {
    private static final StatusNames NAMES = new StatusNames(cublas_v2_h.class, "cublasStatus_t",
            n -> n.startsWith("CUBLAS_STATUS_"));

    private Cublas() {
    }

    /** Transposition of a GEMM operand ({@code cublasOperation_t}). */
    public enum Operation {
        NONE(cublas_v2_h.CUBLAS_OP_N()), TRANSPOSE(cublas_v2_h.CUBLAS_OP_T());

        final int code;

        Operation(int code) {
            this.code = code;
        }
    }

    /** Element type of a GEMM operand ({@code cudaDataType}). */
    public enum DataType {
        FP32(cublas_v2_h.CUDA_R_32F()), FP16(cublas_v2_h.CUDA_R_16F()), BF16(cublas_v2_h.CUDA_R_16BF()),
        FP64(cublas_v2_h.CUDA_R_64F()), INT32(cublas_v2_h.CUDA_R_32I()), INT8(cublas_v2_h.CUDA_R_8I());

        final int code;

        DataType(int code) {
            this.code = code;
        }
    }

    /** Accumulation type of a GEMM ({@code cublasComputeType_t}). */
    public enum ComputeType {
        /** fp32 accumulation; fp32 inputs use full-precision fp32 math unless the math mode allows TF32. */
        FP32(cublas_v2_h.CUBLAS_COMPUTE_32F()),
        /** fp32 accumulation, never reduced precision. */
        FP32_PEDANTIC(cublas_v2_h.CUBLAS_COMPUTE_32F_PEDANTIC()),
        /** fp32 accumulation with TF32 tensor-core inputs. */
        FP32_FAST_TF32(cublas_v2_h.CUBLAS_COMPUTE_32F_FAST_TF32()),
        /** fp32 accumulation with bf16 tensor-core inputs. */
        FP32_FAST_BF16(cublas_v2_h.CUBLAS_COMPUTE_32F_FAST_16BF()),
        /** fp16 accumulation. */
        FP16(cublas_v2_h.CUBLAS_COMPUTE_16F()),
        FP64(cublas_v2_h.CUBLAS_COMPUTE_64F());

        final int code;

        ComputeType(int code) {
            this.code = code;
        }
    }

    /** Math mode of a handle ({@code cublasMath_t}). */
    public enum MathMode {
        DEFAULT(cublas_v2_h.CUBLAS_DEFAULT_MATH()),
        PEDANTIC(cublas_v2_h.CUBLAS_PEDANTIC_MATH()),
        /** Allows TF32 tensor cores for fp32 GEMMs. */
        TF32_TENSOR_OP(cublas_v2_h.CUBLAS_TF32_TENSOR_OP_MATH());

        final int code;

        MathMode(int code) {
            this.code = code;
        }
    }

    static void check(int status, String function) {
        if (status != cublas_v2_h.CUBLAS_STATUS_SUCCESS()) {
            throw exception(function, status);
        }
    }

    /** The exception for a status, named and described by cuBLAS when it is loaded. */
    public static CublasException exception(String function, int status) {
        return new CublasException(function, status, statusName(status), statusString(status), null);
    }

    /** cuBLAS's name of a status ({@code cublasGetStatusName}), or the bindings' when cuBLAS is not loaded. */
    public static String statusName(int status) {
        if (NativeLibraries.isLoaded(NativeLibrary.CUBLAS)) {
            return cublas_v2_h.cublasGetStatusName(status).getString(0);
        }
        return NAMES.name(status);
    }

    /** cuBLAS's description of a status ({@code cublasGetStatusString}). */
    public static String statusString(int status) {
        if (NativeLibraries.isLoaded(NativeLibrary.CUBLAS)) {
            return cublas_v2_h.cublasGetStatusString(status).getString(0);
        }
        return "no description: cuBLAS is not loaded";
    }

    private static void ensureLoaded() {
        NativeLibraries.require(NativeLibrary.CUBLAS);
    }

    /** The library's version as {@code major * 10000 + minor * 100 + patch}, without a handle. */
    public static int version() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            int[] parts = new int[3];
            int[] properties = {cublas_v2_h.MAJOR_VERSION(), cublas_v2_h.MINOR_VERSION(), cublas_v2_h.PATCH_LEVEL()};
            for (int i = 0; i < 3; i++) {
                check(cublas_v2_h.cublasGetProperty(properties[i], v), "cublasGetProperty");
                parts[i] = v.get(ValueLayout.JAVA_INT, 0);
            }
            return parts[0] * 10000 + parts[1] * 100 + parts[2];
        }
    }

    /** Creates a handle on the current device. */
    public static MemorySegment create() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment h = arena.allocate(ValueLayout.ADDRESS);
            check(cublas_v2_h.cublasCreate_v2(h), "cublasCreate_v2");
            return h.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Destroys a handle. */
    public static void destroy(MemorySegment handle) {
        ensureLoaded();
        check(cublas_v2_h.cublasDestroy_v2(Arguments.handle(handle, "cuBLAS handle")), "cublasDestroy_v2");
    }

    /** Orders the handle's work on {@code stream}. */
    public static void setStream(MemorySegment handle, MemorySegment stream) {
        ensureLoaded();
        check(cublas_v2_h.cublasSetStream_v2(Arguments.handle(handle, "cuBLAS handle"), Arguments.stream(stream)),
                "cublasSetStream_v2");
    }

    /** Sets the handle's math mode. */
    public static void setMathMode(MemorySegment handle, MathMode mode) {
        ensureLoaded();
        check(cublas_v2_h.cublasSetMathMode(Arguments.handle(handle, "cuBLAS handle"), mode.code), "cublasSetMathMode");
    }

    /** Gives the handle a device workspace (instead of the one cuBLAS would allocate itself). */
    public static void setWorkspace(MemorySegment handle, MemorySegment workspace, long bytes) {
        Arguments.nonNegative(bytes, "workspace bytes");
        ensureLoaded();
        check(cublas_v2_h.cublasSetWorkspace_v2(Arguments.handle(handle, "cuBLAS handle"),
                Arguments.pointer(workspace, "workspace"), bytes), "cublasSetWorkspace_v2");
    }

    private static void checkGemm(int m, int n, int k, int lda, int ldb, int ldc, Operation opA, Operation opB) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("GEMM sizes must be >= 0, got m=" + m + " n=" + n + " k=" + k);
        }
        int rowsA = opA == Operation.NONE ? m : k;
        int rowsB = opB == Operation.NONE ? k : n;
        if (lda < Math.max(1, rowsA) || ldb < Math.max(1, rowsB) || ldc < Math.max(1, m)) {
            throw new IllegalArgumentException("column-major leading dimensions too small: lda=" + lda + " (>= "
                    + Math.max(1, rowsA) + "), ldb=" + ldb + " (>= " + Math.max(1, rowsB) + "), ldc=" + ldc + " (>= "
                    + Math.max(1, m) + ")");
        }
    }

    /**
     * Column-major fp32 GEMM {@code C = alpha * op(A) * op(B) + beta * C} ({@code cublasSgemm_v2}); op(A) is m×k,
     * op(B) is k×n, C is m×n; alpha and beta are host values.
     */
    public static void sgemm(MemorySegment handle, Operation opA, Operation opB, int m, int n, int k, float alpha,
                             MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        checkGemm(m, n, k, lda, ldb, ldc, opA, opB);
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            check(cublas_v2_h.cublasSgemm_v2(Arguments.handle(handle, "cuBLAS handle"), opA.code, opB.code, m, n, k,
                    arena.allocateFrom(ValueLayout.JAVA_FLOAT, alpha), Arguments.handle(a, "A"), lda,
                    Arguments.handle(b, "B"), ldb, arena.allocateFrom(ValueLayout.JAVA_FLOAT, beta),
                    Arguments.handle(c, "C"), ldc), "cublasSgemm_v2");
        }
    }

    /** Host scalars of the compute type (fp32 for every fp32 compute type, fp16/fp64 otherwise). */
    private static MemorySegment scalar(Arena arena, ComputeType compute, double value) {
        return switch (compute) {
            case FP64 -> arena.allocateFrom(ValueLayout.JAVA_DOUBLE, value);
            case FP16 -> arena.allocateFrom(ValueLayout.JAVA_SHORT, Float.floatToFloat16((float) value));
            default -> arena.allocateFrom(ValueLayout.JAVA_FLOAT, (float) value);
        };
    }

    /**
     * Mixed-precision column-major GEMM {@code C = alpha * op(A) * op(B) + beta * C} ({@code cublasGemmEx}) with the
     * default algorithm; e.g. bf16 A and B, fp32 C, {@link ComputeType#FP32}.
     */
    public static void gemmEx(MemorySegment handle, Operation opA, Operation opB, int m, int n, int k, double alpha,
                              MemorySegment a, DataType aType, int lda, MemorySegment b, DataType bType, int ldb,
                              double beta, MemorySegment c, DataType cType, int ldc, ComputeType compute) {
        checkGemm(m, n, k, lda, ldb, ldc, opA, opB);
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            check(cublas_v2_h.cublasGemmEx(Arguments.handle(handle, "cuBLAS handle"), opA.code, opB.code, m, n, k,
                    scalar(arena, compute, alpha), Arguments.handle(a, "A"), aType.code, lda,
                    Arguments.handle(b, "B"), bType.code, ldb, scalar(arena, compute, beta),
                    Arguments.handle(c, "C"), cType.code, ldc, compute.code, cublas_v2_h.CUBLAS_GEMM_DEFAULT()),
                    "cublasGemmEx");
        }
    }

    /**
     * {@link #gemmEx} over {@code batch} matrices at element strides {@code strideA}, {@code strideB},
     * {@code strideC} ({@code cublasGemmStridedBatchedEx}).
     */
    public static void gemmStridedBatchedEx(MemorySegment handle, Operation opA, Operation opB, int m, int n, int k,
                                            double alpha, MemorySegment a, DataType aType, int lda, long strideA,
                                            MemorySegment b, DataType bType, int ldb, long strideB, double beta,
                                            MemorySegment c, DataType cType, int ldc, long strideC, int batch,
                                            ComputeType compute) {
        checkGemm(m, n, k, lda, ldb, ldc, opA, opB);
        Arguments.nonNegative(batch, "batch count");
        Arguments.nonNegative(strideA, "strideA");
        Arguments.nonNegative(strideB, "strideB");
        Arguments.nonNegative(strideC, "strideC");
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            check(cublas_v2_h.cublasGemmStridedBatchedEx(Arguments.handle(handle, "cuBLAS handle"), opA.code,
                    opB.code, m, n, k, scalar(arena, compute, alpha), Arguments.handle(a, "A"), aType.code, lda,
                    strideA, Arguments.handle(b, "B"), bType.code, ldb, strideB, scalar(arena, compute, beta),
                    Arguments.handle(c, "C"), cType.code, ldc, strideC, batch, compute.code,
                    cublas_v2_h.CUBLAS_GEMM_DEFAULT()), "cublasGemmStridedBatchedEx");
        }
    }
}
