package dev.gatun.bindings;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** "No GPU" is a normal state: the runtime loads, reports no device, and nothing throws until a device is used. */
class CudaAvailabilityTest {

    @Test
    void aRuntimeWithoutADriverIsNotAvailableAndSaysWhy() {
        assumeTrue(NativeLibraries.isLoaded(NativeLibrary.CUDART), "no CUDA runtime on this machine");
        assumeFalse(Cuda.isAvailable(), "this machine has a usable CUDA device");

        assertEquals(0, Cuda.deviceCount());
        String reason = Cuda.unavailableReason();
        if (NativeLibraries.failure(NativeLibrary.CUDA_DRIVER).isPresent()) { // one reason, the true one
            assertEquals("no CUDA driver installed (libcuda.so.1 cannot be loaded)", reason);
        } else {
            assertTrue(reason.startsWith("cudaGetDeviceCount failed: cudaError") || reason.equals("no CUDA device"),
                    reason);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Cuda.setDevice(0));
        assertTrue(e.getMessage().startsWith("CUDA device 0 does not exist: this machine has 0 CUDA device(s)"),
                e.getMessage());
        assertTrue(Cuda.runtimeVersion() >= 12000, "runtime version " + Cuda.runtimeVersion());
    }

    @Test
    void aMissingDriverIsNotAvailableAndSaysWhy() {
        assumeFalse(NativeLibraries.isLoaded(NativeLibrary.CUDA_DRIVER), "this machine has a CUDA driver");
        assertFalse(CudaDriver.isAvailable());
        assertTrue(CudaDriver.unavailableReason().startsWith("CUDA driver (libcuda.so.1) could not be loaded."),
                CudaDriver.unavailableReason());
        assertThrows(LibraryNotFoundException.class, () -> CudaDriver.deviceName(0));
    }

    @Test
    void theInventoryNeverThrows() {
        NativeInventory inventory = NativeInventory.probe();
        assertEquals(NativeLibrary.values().length, inventory.libraries().size());
        for (var status : inventory.libraries()) {
            assertTrue(status.loaded() != null || !status.problem().isEmpty(), status.toString());
        }
        assertEquals(Cuda.deviceCount(), inventory.devices().size());
        assertEquals(inventory.devices().isEmpty(), !inventory.noDeviceReason().isEmpty(), inventory.toString());
    }
}
