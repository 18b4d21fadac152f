package dev.gatun.zero;

import dev.gatun.collectives.Communicator;

import java.util.Objects;
import java.util.Set;

/**
 * Gradient clipping by global norm: with {@code ‖g‖} the 2-norm of every gradient of the whole model, every gradient
 * is multiplied by {@code maxNorm/(‖g‖ + 1e-6)} when {@code ‖g‖ > maxNorm}. The squares are summed over each dp
 * rank's own shard and all-reduced (SUM) across the dp group; with tensor parallelism ({@code tp} not null) they are
 * also all-reduced across the tp group, and the parameters named in {@code tpReplicated} (held whole by every tp
 * rank, e.g. LayerNorm weights) are counted by tp rank 0 only, so that they are not counted tp times. With pipeline
 * parallelism ({@code pp} not null) the squares are also all-reduced across the pipeline group, each stage counting
 * its own parameters, except those named in {@code ppDuplicates}: copies of a parameter another stage owns (Megatron's
 * tied word embedding on the last stage), never counted here.
 *
 * @param maxNorm      threshold, {@code > 0}; {@code POSITIVE_INFINITY} computes the norm without clipping
 * @param tp           the tensor-parallel group, or null
 * @param tpReplicated names of parameters replicated across {@code tp} (empty without tp)
 * @param pp           the pipeline group, or null
 * @param ppDuplicates names of this stage's parameters that are copies of another stage's (empty without pp)
 */
public record Clipping(float maxNorm, Communicator tp, Set<String> tpReplicated, Communicator pp,
                       Set<String> ppDuplicates) {
    /** Norm reported, nothing clipped. */
    public static final Clipping NONE = new Clipping(Float.POSITIVE_INFINITY, null, Set.of());

    /** Clipping over dp and tp, without pipeline parallelism. */
    public Clipping(float maxNorm, Communicator tp, Set<String> tpReplicated) {
        this(maxNorm, tp, tpReplicated, null, Set.of());
    }

    public Clipping {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be > 0 (POSITIVE_INFINITY for no clipping), got "
                    + maxNorm);
        }
        tpReplicated = Set.copyOf(Objects.requireNonNull(tpReplicated, "tpReplicated must not be null"));
        if (tp == null && !tpReplicated.isEmpty()) {
            throw new IllegalArgumentException("tpReplicated " + tpReplicated + " given without a tp communicator");
        }
        ppDuplicates = Set.copyOf(Objects.requireNonNull(ppDuplicates, "ppDuplicates must not be null"));
        if (pp == null && !ppDuplicates.isEmpty()) {
            throw new IllegalArgumentException("ppDuplicates " + ppDuplicates + " given without a pp communicator");
        }
    }

    /** Clips at {@code maxNorm} over the dp group alone. */
    public static Clipping byGlobalNorm(float maxNorm) {
        return new Clipping(maxNorm, null, Set.of());
    }

    /** Whether this rank counts parameter {@code name}: tp-replicated ones only on tp rank 0, pp copies never. */
    boolean counts(String name) {
        return (tp == null || tp.rank() == 0 || !tpReplicated.contains(name)) && !ppDuplicates.contains(name);
    }

    /** Clipping over the same groups at another threshold. */
    public Clipping withMaxNorm(float newMaxNorm) {
        return new Clipping(newMaxNorm, tp, tpReplicated, pp, ppDuplicates);
    }
}
