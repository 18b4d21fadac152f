package dev.gatun.train;

import dev.gatun.collectives.DeviceMesh;
import dev.gatun.zero.ZeroStage;

import java.util.Objects;

/**
 * How a training run is split: {@code dp} data-parallel replicas (ZeRO {@code zero} over them), {@code tp}-way tensor
 * parallelism, a {@code pp}-stage pipeline run by {@code schedule} with {@code microBatches} micro-batches per step
 * and {@code virtualStages} model chunks per pipeline rank (interleaved only). World size {@code dp·tp·pp}.
 * With {@code sequenceParallel} (Megatron's sequence parallelism, Korthikanti et al. 2022; needs {@code tp > 1}) the
 * activations between the tensor-parallel regions (the LayerNorms and the residual stream, and the tensors sent
 * between pipeline stages) are split over the tp group along the tokens: each rank holds {@code 1/tp} of a
 * micro-batch's {@code B·T} token rows, and the all-reduces at the regions' edges become an all-gather before each
 * column-parallel linear and a reduce-scatter after each row-parallel one.
 */
public record ParallelLayout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int microBatches,
                             int virtualStages, boolean sequenceParallel) {
    public ParallelLayout {
        Objects.requireNonNull(zero, "zero must not be null");
        Objects.requireNonNull(schedule, "schedule must not be null");
        if (dp < 1 || tp < 1 || pp < 1) {
            throw new IllegalArgumentException("dp, tp and pp must be >= 1, got dp=" + dp + " tp=" + tp + " pp=" + pp);
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException("--microbatches must be >= 1, got " + microBatches);
        }
        if (schedule == ScheduleKind.INTERLEAVED) {
            if (virtualStages < 2) {
                throw new IllegalArgumentException("the interleaved schedule needs --virtual-stages >= 2, got "
                        + virtualStages + " (with one chunk per rank use --schedule 1f1b)");
            }
            if (pp < 2) {
                throw new IllegalArgumentException("the interleaved schedule needs --pp >= 2, got " + pp + " (its "
                        + "chunks take turns between pipeline ranks; with one rank use --schedule 1f1b)");
            }
        } else if (virtualStages != 1) {
            throw new IllegalArgumentException("--virtual-stages " + virtualStages + " needs --schedule interleaved ("
                    + schedule + " runs one chunk per rank)");
        }
        if (sequenceParallel && tp < 2) {
            throw new IllegalArgumentException("--sequence-parallel needs --tp >= 2, got " + tp + " (it splits the "
                    + "activations between the tensor-parallel regions over the tp group)");
        }
    }

    /** A layout without sequence parallelism. */
    public ParallelLayout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int microBatches,
                          int virtualStages) {
        this(dp, tp, pp, zero, schedule, microBatches, virtualStages, false);
    }

    /** This layout with sequence parallelism on or off. */
    public ParallelLayout withSequenceParallel(boolean on) {
        return new ParallelLayout(dp, tp, pp, zero, schedule, microBatches, virtualStages, on);
    }

    /** One rank, no ZeRO, one micro-batch. */
    public static ParallelLayout single() {
        return new ParallelLayout(1, 1, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1);
    }

    /** {@code dp·tp·pp}. */
    public int worldSize() {
        return dp * tp * pp;
    }

    /** The mesh of ranks (tp innermost). */
    public DeviceMesh mesh() {
        return new DeviceMesh(dp, pp, tp);
    }

    /** Pipeline stages (model chunks) in all: {@code pp·virtualStages}. */
    public int stages() {
        return pp * virtualStages;
    }

    /**
     * Checks the layout against {@code model} ({@link Model#validate}) and a global batch of {@code batchExamples}
     * examples, throwing with a message that says what to change.
     */
    public void validate(Model model, int batchExamples) {
        model.validate(this);
        validate(batchExamples);
        long tokens = (long) batchExamples / ((long) dp * microBatches) * model.tokensPerExample();
        if (sequenceParallel && tokens % tp != 0) {
            throw new IllegalArgumentException("--sequence-parallel splits a micro-batch's " + tokens + " tokens over "
                    + "--tp " + tp + ", which must divide them: change --batch, --microbatches or the sequence length");
        }
    }

    /**
     * Checks what the layout alone decides against a global batch of {@code batchExamples} examples: the schedule
     * can be built, and each data-parallel rank's share splits into equal micro-batches.
     */
    public void validate(int batchExamples) {
        if (schedule == ScheduleKind.INTERLEAVED && microBatches % pp != 0) {
            throw new IllegalArgumentException("the interleaved schedule needs --microbatches to be a multiple of --pp "
                    + pp + ", got " + microBatches);
        }
        if (batchExamples % (dp * microBatches) != 0) {
            throw new IllegalArgumentException("--batch " + batchExamples + " must be a multiple of dp x microbatches"
                    + " = " + dp * microBatches + " (each data-parallel rank splits its share into micro-batches)");
        }
        schedule.build(pp, microBatches, virtualStages); // rejects what the schedule builders reject
    }

    @Override
    public String toString() {
        return "dp" + dp + " tp" + tp + " pp" + pp + " zero" + zero.ordinal() + " " + schedule + " m" + microBatches
                + (virtualStages > 1 ? " v" + virtualStages : "") + (sequenceParallel ? " sp" : "");
    }
}
