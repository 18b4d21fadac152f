package dev.gatun.ops.cuda;

import java.time.Duration;
import java.util.Objects;

/**
 * How one kernel family (one {@code .cu} source) became a loaded module on a device, and how long that took: the
 * NVRTC compile or the disk-cache read, plus {@code cuModuleLoadData}.
 *
 * @param family the source file, e.g. {@code layernorm.cu}
 * @param origin where the compiled image came from
 * @param time   wall time of obtaining the image and loading the module
 */
public record KernelLoad(String family, Origin origin, Duration time) {
    /** Where a compiled kernel image came from. */
    public enum Origin {
        /** compiled by NVRTC in this call */
        NVRTC("NVRTC"),
        /** read from the backend's kernel cache directory */
        DISK_CACHE("disk cache"),
        /** compiled or read earlier by this process (any device of the same architecture) */
        PROCESS("this process"),
        /** the module was already loaded on this backend's device */
        LOADED("already loaded");

        private final String label;

        Origin(String label) {
            this.label = label;
        }

        /** A word or two for tables. */
        public String label() {
            return label;
        }
    }

    public KernelLoad {
        Objects.requireNonNull(family, "family must not be null");
        Objects.requireNonNull(origin, "origin must not be null");
        Objects.requireNonNull(time, "time must not be null");
    }
}
