package dev.gatun.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The per-SM rates against the datasheets' dense peaks, and MFU's arithmetic. */
class GpuPeakTest {
    /** SMs × clock × rate, in TFLOP/s. */
    private static double tflops(int sms, double ghz, int major, int minor, GpuPeak.GemmMath math) {
        return sms * ghz * 1e9 * GpuPeak.perSmPerClock(major, minor, math) / 1e12;
    }

    @Test
    void ratesGiveTheDatasheetPeaksAtTheDatasheetClocks() {
        // A100 SXM: 108 SMs, 1.41 GHz: 19.5 fp32, 156 TF32, 312 bf16
        assertEquals(19.5, tflops(108, 1.41, 8, 0, GpuPeak.GemmMath.FP32), 0.1);
        assertEquals(156, tflops(108, 1.41, 8, 0, GpuPeak.GemmMath.TF32), 0.5);
        assertEquals(312, tflops(108, 1.41, 8, 0, GpuPeak.GemmMath.BF16), 0.5);
        // H100 SXM: 132 SMs; 67 fp32 at the 1.98 GHz boost, 495 TF32 and 989 bf16 at 1.83 GHz
        assertEquals(66.9, tflops(132, 1.98, 9, 0, GpuPeak.GemmMath.FP32), 0.1);
        assertEquals(494.7, tflops(132, 1.83, 9, 0, GpuPeak.GemmMath.TF32), 0.5);
        assertEquals(989.4, tflops(132, 1.83, 9, 0, GpuPeak.GemmMath.BF16), 0.5);
        assertEquals(0, GpuPeak.perSmPerClock(8, 6, GpuPeak.GemmMath.BF16), "unlisted: unknown");
    }

    @Test
    void mfuIsModelFlopsOverThePeakOfAllRanks() {
        double flopsPerToken = 7.9e8; // about GPT-2 124M's 6N + attention
        var mfu = new Mfu(flopsPerToken, 989.4e12, 8);
        double tokensPerSecond = 0.4 * 8 * 989.4e12 / flopsPerToken;
        assertEquals(0.4, mfu.at(tokensPerSecond), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new Mfu(1, 0, 1));
    }
}
