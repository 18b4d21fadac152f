package dev.gatun.bindings;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Status codes become one exception style; bad arguments are refused before any native call. */
class FacadeErrorTest {
    private static final MemorySegment SOME_DEVICE_ADDRESS = MemorySegment.ofAddress(0x7f0000000000L);

    @Test
    void cudaRuntimeStatusNamesTheFunctionCodeNameAndMessage() {
        CudaException e = Cuda.exception("cudaMalloc", 2);
        assertEquals("cudaMalloc", e.function());
        assertEquals(2, e.code());
        assertEquals("cudaErrorMemoryAllocation", e.codeName());
        if (NativeLibraries.isLoaded(NativeLibrary.CUDART)) {
            assertEquals("cudaMalloc failed: cudaErrorMemoryAllocation (2): out of memory", e.getMessage());
        }
        assertEquals("cudaErrorNoDevice", Cuda.exception("cudaSetDevice", 100).codeName());
        assertInstanceOf(GpuException.class, e);
    }

    @Test
    void driverStatusNames() {
        CuDriverException e = CudaDriver.exception("cuModuleLoadData", 218);
        assertEquals("CUDA_ERROR_INVALID_PTX", e.codeName());
        assertTrue(e.getMessage().startsWith("cuModuleLoadData failed: CUDA_ERROR_INVALID_PTX (218): "), e.getMessage());
    }

    @Test
    void cublasStatusNames() {
        CublasException e = Cublas.exception("cublasSgemm_v2", 7);
        assertEquals("CUBLAS_STATUS_INVALID_VALUE", e.codeName());
        assertTrue(e.getMessage().startsWith("cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE (7): "), e.getMessage());
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", Cublas.exception("cublasGemmEx", 15).codeName());
    }

    @Test
    void ncclResultNamesAndDetail() {
        NcclException e = Nccl.exception("ncclAllReduce", 4, "invalid root");
        assertEquals("ncclInvalidArgument", e.codeName());
        assertTrue(e.getMessage().startsWith("ncclAllReduce failed: ncclInvalidArgument (4): "), e.getMessage());
        assertTrue(e.getMessage().endsWith("\ninvalid root"), e.getMessage());
        assertEquals("ncclResult_t(99)", Nccl.exception("ncclSend", 99, "").codeName());
    }

    @Test
    void nvrtcCompilationFailureCarriesTheLog() {
        NvrtcException e = Nvrtc.exception("nvrtcCompileProgram(k.cu)", 6, "k.cu(3): error: expected a \";\"");
        assertEquals("NVRTC_ERROR_COMPILATION", e.codeName());
        assertEquals("k.cu(3): error: expected a \";\"", e.log());
        assertTrue(e.getMessage().contains("k.cu(3): error"), e.getMessage());
    }

    @Test
    void badArgumentsAreRefusedBeforeTheNativeCall() {
        assertEquals("cudaMalloc size must be > 0, got 0",
                assertThrows(IllegalArgumentException.class, () -> Cuda.malloc(0)).getMessage());
        var heap = MemorySegment.ofArray(new byte[16]);
        assertEquals("memcpy destination must be off-heap (a native MemorySegment), got a heap segment",
                assertThrows(IllegalArgumentException.class,
                        () -> Cuda.memcpy(heap, SOME_DEVICE_ADDRESS, 16, MemcpyKind.DEVICE_TO_HOST)).getMessage());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(8);
            assertEquals("memcpy source holds 8 bytes, 16 needed", assertThrows(IllegalArgumentException.class,
                    () -> Cuda.memcpy(SOME_DEVICE_ADDRESS, small, 16, MemcpyKind.HOST_TO_DEVICE)).getMessage());
        }
        assertEquals("stream must be a live handle, got NULL",
                assertThrows(IllegalArgumentException.class, () -> Cuda.streamDestroy(MemorySegment.NULL)).getMessage());
        var gemm = assertThrows(IllegalArgumentException.class, () -> Cublas.sgemm(SOME_DEVICE_ADDRESS,
                Cublas.Operation.NONE, Cublas.Operation.NONE, 64, 32, 16, 1f, SOME_DEVICE_ADDRESS, 8,
                SOME_DEVICE_ADDRESS, 16, 0f, SOME_DEVICE_ADDRESS, 64));
        assertTrue(gemm.getMessage().startsWith("column-major leading dimensions too small: lda=8 (>= 64)"),
                gemm.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Nccl.commInitRank(2, new NcclUniqueId(new byte[128]), 2));
        assertEquals("an NCCL unique id is 128 bytes, got 16",
                assertThrows(IllegalArgumentException.class, () -> new NcclUniqueId(new byte[16])).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Nvrtc.compile(" ", "k.cu", List.of()));
        assertThrows(IllegalArgumentException.class,
                () -> CudaDriver.launchKernel(SOME_DEVICE_ADDRESS, 0, 1, 1, 32, 1, 1, 0, MemorySegment.NULL,
                        MemorySegment.NULL));
    }

    @Test
    void ncclUniqueIdRoundTripsThroughHex() {
        byte[] bytes = new byte[NcclUniqueId.BYTES];
        new java.util.Random(7).nextBytes(bytes);
        NcclUniqueId id = new NcclUniqueId(bytes);
        assertEquals(id, NcclUniqueId.fromHex(id.toHex()));
        assertEquals(256, id.toHex().length());
    }

    @Test
    void ncclVersionCodesFormatBothSchemes() {
        assertEquals("2.27.3", Nccl.versionString(22703));
        assertEquals("2.8.4", Nccl.versionString(2804));
    }
}
