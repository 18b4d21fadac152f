package dev.gatun.cli;

import dev.gatun.llama.LlamaConfig;
import dev.gatun.memory.ByteSize;
import dev.gatun.pipeline.StagePartition;
import dev.gatun.pipeline.StagePartitioner;
import dev.gatun.train.MemoryLimit;
import dev.gatun.train.ParallelLayout;
import dev.gatun.zero.PrecisionPolicy;

import java.util.Arrays;
import java.util.Optional;

/**
 * The memory check of a model without a step-by-step estimate (the Llama model): each rank's model states by the
 * ZeRO paper's formula ({@link dev.gatun.zero.ZeroStage#modelStateBytes}) for the parameters it holds — its pipeline
 * stage's decoder layers, the embedding on the first stage and the head on the last, the GEMM weights and the
 * vocabulary split over tp — a lower bound, since activations come on top. A run whose states alone exceed the
 * limit is refused, naming the ZeRO stage or layout that would fit them.
 */
final class ModelStatesCheck implements MemoryFit {
    private final LlamaConfig config;
    private final ParallelLayout layout;
    private final PrecisionPolicy policy;
    private final MemoryLimit limit;

    ModelStatesCheck(LlamaConfig config, ParallelLayout layout, PrecisionPolicy policy, MemoryLimit limit) {
        this.config = config;
        this.layout = layout;
        this.policy = policy;
        this.limit = limit;
    }

    /** The parameters a rank of pipeline rank {@code ppRank} holds, with the padded vocabulary. */
    static long rankParameters(LlamaConfig config, ParallelLayout layout, int ppRank) {
        int tp = layout.tp();
        long c = config.channels();
        long hs = config.headSize();
        long block = (2 * c * config.heads() * hs + 2 * c * config.kvHeads() * hs + 3 * c * config.hidden()) / tp
                + 2 * c;
        long vocabRows = (long) config.paddedVocab(tp) / tp * c;
        double[] costs = new double[config.layers()];
        Arrays.fill(costs, 1.0);
        StagePartition p = StagePartitioner.balance(costs, layout.stages());
        long n = 0;
        for (int chunk = 0; chunk < layout.virtualStages(); chunk++) {
            int stage = chunk * layout.pp() + ppRank;
            n += p.layersPerStage().get(stage) * block;
            if (stage == 0) {
                n += vocabRows;
            }
            if (stage == layout.stages() - 1) {
                n += c + (!config.tiedHead() || layout.stages() > 1 ? vocabRows : 0);
            }
        }
        return n;
    }

    /** The largest rank's model states, or all ranks' when they share the limit. */
    long needed() {
        return needed(layout);
    }

    private long needed(ParallelLayout l) {
        long largest = 0;
        long all = 0;
        for (int r = 0; r < l.pp(); r++) {
            long bytes = l.zero().modelStateBytes(rankParameters(config, l, r), l.dp(), policy);
            largest = Math.max(largest, bytes);
            all += bytes * l.dp() * l.tp();
        }
        return limit.shared() ? all : largest;
    }

    @Override
    public boolean fits() {
        return needed() <= limit.bytes();
    }

    @Override
    public String describe() {
        return "at least " + ByteSize.format(needed()) + " of model states" + (layout.worldSize() == 1 ? ""
                : limit.shared() ? " for the " + layout.worldSize() + " ranks of this process" : " per rank at most")
                + " (the ZeRO formula for " + layout.zero() + "; activations come on top and are not estimated for "
                + "this model); " + ByteSize.format(limit.bytes()) + " of " + limit.source();
    }

    @Override
    public Optional<String> refusal() {
        if (fits()) {
            return Optional.empty();
        }
        String advice = "use a smaller model (--layers, --channels) or more memory";
        if (!limit.shared()) {
            for (int k = 2; k <= 64; k *= 2) {
                var more = new ParallelLayout(layout.dp() * k, layout.tp(), layout.pp(),
                        dev.gatun.zero.ZeroStage.THREE, layout.schedule(), layout.microBatches(),
                        layout.virtualStages());
                if (needed(more) <= limit.bytes()) {
                    advice = "--dp " + more.dp() + " --zero 3 (" + more.worldSize() + " GPUs) brings the states to "
                            + ByteSize.format(needed(more)) + " per rank";
                    break;
                }
            }
        }
        return Optional.of("not enough memory: " + describe() + ": " + advice);
    }
}
