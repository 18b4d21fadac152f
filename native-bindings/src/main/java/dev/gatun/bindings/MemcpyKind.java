package dev.gatun.bindings;

import dev.gatun.bindings.raw.cudart.cuda_runtime_api_h;

/** Direction of a CUDA memory copy ({@code enum cudaMemcpyKind}). */
public enum MemcpyKind {
    HOST_TO_HOST(cuda_runtime_api_h.cudaMemcpyHostToHost(), true, true),
    HOST_TO_DEVICE(cuda_runtime_api_h.cudaMemcpyHostToDevice(), false, true),
    DEVICE_TO_HOST(cuda_runtime_api_h.cudaMemcpyDeviceToHost(), true, false),
    DEVICE_TO_DEVICE(cuda_runtime_api_h.cudaMemcpyDeviceToDevice(), false, false),
    /** Inferred from the pointers (unified virtual addressing). */
    DEFAULT(cuda_runtime_api_h.cudaMemcpyDefault(), false, false);

    final int code;
    final boolean hostDestination;
    final boolean hostSource;

    MemcpyKind(int code, boolean hostDestination, boolean hostSource) {
        this.code = code;
        this.hostDestination = hostDestination;
        this.hostSource = hostSource;
    }
}
