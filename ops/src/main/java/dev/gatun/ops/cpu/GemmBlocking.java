package dev.gatun.ops.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * The cache blocking of {@link CpuGemm}, after BLIS: the kernel sweeps a {@code kc × NR} micro-panel of packed
 * {@code B} against the {@code MR}-row micro-panels of a packed {@code mc × kc} block of {@code A}, both kept in L2;
 * the packed {@code B} panel ({@code kc × nc}, at most {@code panelFloats}) lives in L3 and is shared by all threads.
 *
 * @param mr          tile rows: 12 or 4 (see {@link GemmKernel})
 * @param kc          depth of a packed block
 * @param mcMax       most rows of a packed A block (a multiple of {@code mr}); blocks shrink so every thread gets
 *                    several
 * @param panelFloats most floats of a packed B panel; {@code nc} is chosen to fit (at least one micro-panel)
 * @param parallelMin fewest multiply-adds of a call for it to use more than one thread: below, handing work to the
 *                    pool and waiting for it costs more than it saves
 */
record GemmBlocking(int mr, int kc, int mcMax, int panelFloats, long parallelMin) {
    GemmBlocking {
        if (mr != 12 && mr != 4) {
            throw new IllegalArgumentException("mr must be 12 or 4 (the kernels there are), got " + mr);
        }
        if (kc < 1) {
            throw new IllegalArgumentException("kc must be >= 1, got " + kc);
        }
        if (mcMax < mr || mcMax % mr != 0) {
            throw new IllegalArgumentException("mcMax=" + mcMax + " must be a positive multiple of mr=" + mr);
        }
        if (panelFloats < 1) {
            throw new IllegalArgumentException("panelFloats must be >= 1, got " + panelFloats);
        }
        if (parallelMin < 0) {
            throw new IllegalArgumentException("parallelMin must be >= 0, got " + parallelMin);
        }
    }

    /** Columns of a tile: two vectors. */
    int nr() {
        return GemmKernel.NR;
    }

    /**
     * The blocking for this machine: {@code kc} is half the L2 size in KiB (256 to 1024; 512, for a 1 MiB L2, when
     * the size is unknown), so that a packed A block of 144 rows, or the shared block of a few hundred rows of a
     * training step's activations, stays in L2 next to the B micro-panel being swept. Measured on a 2-core Zen 5 (1
     * MiB L2) at the shapes of a GPT-2 step (jmh {@code GptGemmBenchmark}): kc = 512 and 768 ran at 250-300 GFLOP/s
     * with 256 rows, kc = 256 and 1024 10-20% slower; with 1024 rows kc = 1024 led by 5-10%. Products under 128³
     * multiply-adds stay on one thread: waking a pool worker and waiting for it costs tens of microseconds (64³ ran
     * at 42 GFLOP/s on one thread, 20 on two).
     */
    static GemmBlocking forThisMachine() {
        int kc = Math.clamp(l2Bytes().orElse(1 << 20) / 2048, 256, 1024);
        return new GemmBlocking(GemmKernel.preferredRows(), kc, 144, 4 << 20, 1L << 21);
    }

    /** The L2 size that Linux reports for cpu0, if it does. */
    private static OptionalLong l2Bytes() {
        Path caches = Path.of("/sys/devices/system/cpu/cpu0/cache");
        for (int index = 0; index < 8; index++) {
            Path cache = caches.resolve("index" + index);
            try {
                if (Files.readString(cache.resolve("level")).strip().equals("2")) {
                    String size = Files.readString(cache.resolve("size")).strip();
                    long unit = size.endsWith("K") ? 1024 : size.endsWith("M") ? 1024 * 1024 : 1;
                    return OptionalLong.of(Long.parseLong(size.replaceAll("[KM]$", "")) * unit);
                }
            } catch (IOException | RuntimeException e) {
                return OptionalLong.empty();
            }
        }
        return OptionalLong.empty();
    }
}
