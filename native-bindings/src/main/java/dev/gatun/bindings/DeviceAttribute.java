package dev.gatun.bindings;

import dev.gatun.bindings.raw.cudart.cuda_runtime_api_h;

/** The device attributes Gatun reads ({@code enum cudaDeviceAttr}). */
public enum DeviceAttribute {
    MAX_THREADS_PER_BLOCK(cuda_runtime_api_h.cudaDevAttrMaxThreadsPerBlock()),
    MAX_SHARED_MEMORY_PER_BLOCK(cuda_runtime_api_h.cudaDevAttrMaxSharedMemoryPerBlock()),
    MAX_SHARED_MEMORY_PER_BLOCK_OPTIN(cuda_runtime_api_h.cudaDevAttrMaxSharedMemoryPerBlockOptin()),
    WARP_SIZE(cuda_runtime_api_h.cudaDevAttrWarpSize()),
    CLOCK_RATE_KHZ(cuda_runtime_api_h.cudaDevAttrClockRate()),
    MULTIPROCESSOR_COUNT(cuda_runtime_api_h.cudaDevAttrMultiProcessorCount()),
    PCI_BUS_ID(cuda_runtime_api_h.cudaDevAttrPciBusId()),
    PCI_DEVICE_ID(cuda_runtime_api_h.cudaDevAttrPciDeviceId()),
    MEMORY_CLOCK_RATE_KHZ(cuda_runtime_api_h.cudaDevAttrMemoryClockRate()),
    GLOBAL_MEMORY_BUS_WIDTH_BITS(cuda_runtime_api_h.cudaDevAttrGlobalMemoryBusWidth()),
    L2_CACHE_BYTES(cuda_runtime_api_h.cudaDevAttrL2CacheSize()),
    COMPUTE_CAPABILITY_MAJOR(cuda_runtime_api_h.cudaDevAttrComputeCapabilityMajor()),
    COMPUTE_CAPABILITY_MINOR(cuda_runtime_api_h.cudaDevAttrComputeCapabilityMinor());

    final int code;

    DeviceAttribute(int code) {
        this.code = code;
    }
}
