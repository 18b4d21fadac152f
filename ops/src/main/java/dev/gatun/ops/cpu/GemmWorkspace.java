package dev.gatun.ops.cpu;

import java.util.Arrays;

/**
 * The heap buffers one {@link CpuGemm} call works in, kept between calls so the hot loops never allocate: per slot
 * (one per concurrently running task, see {@link ParallelLoop}) a packed A block, a packed B panel, a C tile, a
 * row being packed and an fp32 copy of a 16-bit C. Buffers only grow. A workspace serves one call at a time.
 */
final class GemmWorkspace {
    private Slot[] slots = new Slot[0];

    /** The buffers of slot {@code index}, created on first use. */
    Slot slot(int index) {
        if (index >= slots.length) {
            slots = Arrays.copyOf(slots, index + 1);
        }
        if (slots[index] == null) {
            slots[index] = new Slot();
        }
        return slots[index];
    }

    /** Creates the slots {@code [0, count)} now, so tasks running at once never grow the slot array together. */
    void ensureSlots(int count) {
        for (int i = count - 1; i >= 0; i--) {
            slot(i);
        }
    }

    static final class Slot {
        private float[] aBlock = new float[0];
        private float[] bPanel = new float[0];
        private float[] tile = new float[0];
        private float[] cCopy = new float[0];
        private float[] run = new float[0];

        float[] aBlock(int floats) {
            return aBlock = atLeast(aBlock, floats);
        }

        float[] bPanel(int floats) {
            return bPanel = atLeast(bPanel, floats);
        }

        float[] tile(int floats) {
            return tile = atLeast(tile, floats);
        }

        float[] run(int floats) {
            return run = atLeast(run, floats);
        }

        float[] cCopy(int floats) {
            return cCopy = atLeast(cCopy, floats);
        }

        private static float[] atLeast(float[] buffer, int floats) {
            return buffer.length >= floats ? buffer : new float[floats];
        }
    }
}
