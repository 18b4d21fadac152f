package dev.gatun.cli;

import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.MemoryEstimate;
import dev.gatun.train.MemoryLimit;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ScheduleKind;
import dev.gatun.memory.ByteSize;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code gatun train}'s check, before the model is built, that the run fits in memory: the {@link MemoryEstimate}
 * of every rank against the {@link MemoryLimit} of the placement (the sum over the ranks when they are threads
 * sharing the host's memory, the largest rank when each has a GPU), and when it does not fit, the cheapest changes
 * that do, each with the estimate it brings. Changes are tried cheapest first: a higher ZeRO stage (the same
 * updates, more communication), more micro-batches (the same updates, smaller activations), selective then full
 * activation recomputation (the same updates, one attention core or one forward more per layer), fp32 instead of
 * mixed precision (which keeps fp32 gradients and master weights besides the bf16/fp16 ones), on GPUs a layout of
 * more ranks, and last a smaller batch (other updates).
 */
final class MemoryCheck implements MemoryFit {
    private static final int SHOWN = 2;

    private final GptConfig config;
    private final ParallelLayout layout;
    private final PrecisionPolicy policy;
    private final int batch;
    private final RecomputePlan recompute;
    private final MemoryLimit limit;
    private final MemoryEstimate estimate;

    MemoryCheck(GptConfig config, ParallelLayout layout, PrecisionPolicy policy, int batch, MemoryLimit limit) {
        this(config, layout, policy, batch, RecomputePlan.NONE, limit);
    }

    MemoryCheck(GptConfig config, ParallelLayout layout, PrecisionPolicy policy, int batch, RecomputePlan recompute,
                MemoryLimit limit) {
        this.config = config;
        this.layout = layout;
        this.policy = policy;
        this.batch = batch;
        this.recompute = recompute;
        this.limit = limit;
        this.estimate = MemoryEstimate.of(config, layout, policy, batch, recompute);
    }

    /** What the run needs against the limit: all ranks' bytes when they share it, else the largest rank's. */
    long needed() {
        return needed(estimate);
    }

    private long needed(MemoryEstimate e) {
        return limit.shared() ? e.worldBytes() : e.largest().neededBytes();
    }

    @Override
    public boolean fits() {
        return needed() <= limit.bytes();
    }

    /** The header line: the estimate and the limit. */
    @Override
    public String describe() {
        return "about " + ByteSize.format(needed()) + " at the peak" + who() + " (estimated: " + parts() + "); "
                + ByteSize.format(limit.bytes()) + " of " + limit.source();
    }

    private String who() {
        int ranks = layout.worldSize();
        if (limit.shared()) {
            return ranks == 1 ? "" : " for the " + ranks + " ranks of this process";
        }
        return ranks == 1 ? "" : " per rank at most";
    }

    private String parts() {
        var r = estimate.largest();
        String largest = layout.worldSize() > 1 ? "the largest rank " + ByteSize.format(r.neededBytes()) + ": " : "";
        return largest + "parameters " + ByteSize.format(r.peak(MemoryCategory.PARAMETERS)) + ", gradients "
                + ByteSize.format(r.peak(MemoryCategory.GRADIENTS)) + ", optimizer state "
                + ByteSize.format(r.peak(MemoryCategory.OPTIMIZER_STATE)) + ", activations "
                + ByteSize.format(r.peak(MemoryCategory.ACTIVATIONS)) + ", attention scratch "
                + ByteSize.format(r.backendScratchBytes());
    }

    /**
     * The refusal when the run does not fit, naming the cheapest changes of {@code gatun train}'s options that do;
     * empty when it fits.
     */
    @Override
    public Optional<String> refusal() {
        if (fits()) {
            return Optional.empty();
        }
        List<String> fixes = new ArrayList<>();
        for (Change c : changes()) {
            if (fixes.size() == SHOWN) {
                break;
            }
            try {
                long need = needed(MemoryEstimate.of(config, c.layout(), c.policy(), c.batch(),
                        c.recompute() != null ? c.recompute() : recompute));
                if (need <= limit.bytes()) {
                    fixes.add(c.options() + " brings it to " + ByteSize.format(need));
                }
            } catch (IllegalArgumentException notALayout) {
                // a change this model or batch does not allow
            }
        }
        String advice = fixes.isEmpty()
                ? "no change of --zero, --recompute, --microbatches, --precision" + (limit.shared() ? "" : ", the layout")
                + " or --batch fits: use a smaller model (--layers, --channels, --seq-len)"
                + (limit.shared() ? " or a machine with more memory" : " or GPUs with more memory")
                : String.join("; ", fixes);
        return Optional.of(shortfall() + ": " + advice);
    }

    /** What the run needs against the limit, without the changes that would fit. */
    String shortfall() {
        return "not enough memory: this run needs " + describe();
    }

    private record Change(String options, ParallelLayout layout, PrecisionPolicy policy, int batch,
                          RecomputePlan recompute) {
        Change(String options, ParallelLayout layout, PrecisionPolicy policy, int batch) {
            this(options, layout, policy, batch, null);
        }
    }

    private ParallelLayout with(int dp, int tp, int pp, ZeroStage zero, int microBatches) {
        return new ParallelLayout(dp, tp, pp, zero, layout.schedule(), microBatches, layout.virtualStages(),
                layout.sequenceParallel() && tp > 1);
    }

    /** The changes to try, cheapest first. */
    private List<Change> changes() {
        List<Change> changes = new ArrayList<>();
        int dp = layout.dp();
        int tp = layout.tp();
        int pp = layout.pp();
        int m = layout.microBatches();
        if (dp > 1) {
            for (int z = layout.zero().ordinal() + 1; z <= 3; z++) {
                changes.add(new Change("--zero " + z, with(dp, tp, pp, ZeroStage.values()[z], m), policy, batch));
            }
        }
        if (tp > 1 && !layout.sequenceParallel()) { // the activations between the tp regions split, no compute added
            changes.add(new Change("--sequence-parallel", layout.withSequenceParallel(true), policy, batch));
        }
        List<Integer> more = new ArrayList<>();
        for (int k = 2 * m; (long) dp * k <= batch; k *= 2) {
            if (batch % (dp * k) == 0) {
                more.add(k);
            }
        }
        for (int k : more) {
            changes.add(new Change("--microbatches " + k, with(dp, tp, pp, layout.zero(), k), policy, batch));
        }
        for (Recompute r : List.of(Recompute.SELECTIVE, Recompute.FULL)) {
            if (recompute.defaultMode().ordinal() < r.ordinal() || !recompute.byLayer().isEmpty()) {
                changes.add(new Change("--recompute " + r.label(), layout, policy, batch, RecomputePlan.all(r)));
            }
        }
        if (dp > 1 && layout.zero() != ZeroStage.THREE) {
            for (int k : more) {
                changes.add(new Change("--zero 3 --microbatches " + k, with(dp, tp, pp, ZeroStage.THREE, k),
                        policy, batch));
            }
        }
        if (policy != PrecisionPolicy.FP32) {
            changes.add(new Change("--precision fp32", layout, PrecisionPolicy.FP32, batch));
        }
        if (!limit.shared()) { // one GPU per rank: more ranks split the model
            changes.add(new Change("--tp " + 2 * tp + " (" + 2 * layout.worldSize() + " GPUs)",
                    with(dp, 2 * tp, pp, layout.zero(), m), policy, batch));
            if (layout.schedule() != ScheduleKind.INTERLEAVED || m % (2 * pp) == 0) {
                changes.add(new Change("--pp " + 2 * pp + " (" + 2 * layout.worldSize() + " GPUs)",
                        with(dp, tp, 2 * pp, layout.zero(), m), policy, batch));
            }
            changes.add(new Change("--dp " + 2 * dp + " --zero 3 (" + 2 * layout.worldSize() + " GPUs)",
                    with(2 * dp, tp, pp, ZeroStage.THREE, m), policy, batch));
        }
        for (int b = batch / 2; b >= dp * m && b > 0; b /= 2) {
            if (b % (dp * m) == 0) {
                changes.add(new Change("--batch " + b, layout, policy, b));
            }
        }
        return changes;
    }
}
