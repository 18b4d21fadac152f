package dev.gatun.bindings;

import dev.gatun.bindings.raw.cudart.cuda_runtime_api_h;

/** How stream capture interacts with other threads' CUDA calls ({@code enum cudaStreamCaptureMode}). */
public enum CaptureMode {
    GLOBAL(cuda_runtime_api_h.cudaStreamCaptureModeGlobal()),
    THREAD_LOCAL(cuda_runtime_api_h.cudaStreamCaptureModeThreadLocal()),
    RELAXED(cuda_runtime_api_h.cudaStreamCaptureModeRelaxed());

    final int code;

    CaptureMode(int code) {
        this.code = code;
    }
}
