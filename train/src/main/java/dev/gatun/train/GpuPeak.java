package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.DeviceAttribute;

import java.util.OptionalDouble;

/**
 * A GPU's peak dense FLOP/s for the math its GEMMs use, from what the device reports:
 * {@code SMs × max clock × FLOP per SM per clock}, with the per-SM rates of the architectures whose figures are
 * published per SM: sm_80 (A100: fp32 128, TF32 1024, bf16/fp16 2048) and sm_90 (H100/H200: fp32 256, TF32 2048,
 * bf16/fp16 4096). The max clock is the boost clock, so the peak is a little above the datasheet's (which quotes
 * tensor peaks at a lower sustained clock) and MFU a little below. Other architectures: unknown (pass a peak
 * explicitly).
 */
final class GpuPeak {
    /** The GEMM math a run uses. */
    public enum GemmMath {
        FP32, TF32, BF16
    }

    private GpuPeak() {
    }

    /** FLOP per SM per clock of {@code math} on compute capability {@code major.minor}, or 0 when unknown. */
    static int perSmPerClock(int major, int minor, GemmMath math) {
        int base = major == 8 && minor == 0 ? 1 : major == 9 && minor == 0 ? 2 : 0;
        return switch (math) {
            case FP32 -> 128 * base;
            case TF32 -> 1024 * base;
            case BF16 -> 2048 * base;
        };
    }

    /** The peak FLOP/s of GPU {@code ordinal} for {@code math}, or empty when its architecture is not listed. */
    public static OptionalDouble of(int ordinal, GemmMath math) {
        int major = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, ordinal);
        int minor = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, ordinal);
        int rate = perSmPerClock(major, minor, math);
        if (rate == 0) {
            return OptionalDouble.empty();
        }
        double sms = Cuda.deviceAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, ordinal);
        double hz = Cuda.deviceAttribute(DeviceAttribute.CLOCK_RATE_KHZ, ordinal) * 1e3;
        return OptionalDouble.of(sms * hz * rate);
    }
}
