package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Builders of the standard schedules, compute actions only (lower them with {@link SendRecvLowering#lower} before
 * validating or running). Notation: {@code p} ranks, {@code m} micro-batches, {@code v} model chunks per rank.
 *
 * <p>Bubble fractions (idle time over total time of a rank, forward time {@code t_f} and backward {@code t_b} per
 * stage, free communication; see {@link Timeline#bubbleFraction}): {@code (p−1)/(m+p−1)} for GPipe and 1F1B,
 * {@code (p−1)/(v·m+p−1)} for interleaved 1F1B (where a stage is one chunk, so {@code t_f, t_b} are per chunk).
 * Peak micro-batches in flight on rank {@code r} (activations held): {@code m} for GPipe, {@code min(m, p−r)} for
 * 1F1B, {@code min(w_r + 1, v·m)} for interleaved with {@code w_r} its warm-up count below.
 *
 * <p>ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024) splits each backward into its input gradient
 * {@code I} and weight gradient {@code W} ({@code t_b = t_I + t_W}); its bubble is {@code (p−1)·(t_f + t_I − t_W)}
 * per rank against 1F1B's {@code (p−1)·(t_f + t_b)}, a third of it when {@code t_f = t_I = t_W}, with at most
 * {@code min(m, p)} micro-batches in flight on every rank, 1F1B's peak (its first rank's).
 */
public final class Schedules {
    private Schedules() {
    }

    /** GPipe: every rank runs all its forwards (micro-batch 0 first), then all its backwards (micro-batch 0 first). */
    public static Schedule gpipe(int p, int m) {
        requireSizes(p, m);
        return build("GPipe", p, m, 1, r -> {
            List<Action> actions = new ArrayList<>(2 * m);
            for (int mb = 0; mb < m; mb++) {
                actions.add(Action.forward(r, mb));
            }
            for (int mb = 0; mb < m; mb++) {
                actions.add(Action.backward(r, mb));
            }
            return actions;
        });
    }

    /**
     * 1F1B (PipeDream-flush, Megatron's non-interleaved schedule): rank {@code r} runs a warm-up of
     * {@code w = min(p−r−1, m)} forwards, then {@code m−w} pairs of one forward and one backward, then a cool-down of
     * {@code w} backwards. Micro-batches go in order in both directions.
     */
    public static Schedule oneFOneB(int p, int m) {
        requireSizes(p, m);
        return build("1F1B", p, m, 1, r -> {
            int warmup = Math.min(p - r - 1, m);
            return oneFOneBOrder(m, warmup, k -> Action.forward(r, k), k -> Action.backward(r, k));
        });
    }

    /**
     * ZB-H1, the memory-efficient handcrafted zero-bubble schedule: 1F1B's order of forwards and input gradients
     * (rank {@code r} warms up with {@code w = min(p−r−1, m)} forwards, then alternates one forward and one
     * {@code I}, then runs the remaining {@code I}s) with each weight gradient {@code W} run after the {@code I} of
     * the micro-batch {@code d = min(p−1−w, m)} later, i.e. delayed by the warm-up forwards the rank does not have,
     * so that every rank holds {@code w + 1 + d = min(p, m)} micro-batches at most; the {@code W}s still due after the
     * last {@code I} run at the end, where 1F1B's ranks wait for the last stage. Micro-batches go in order in all
     * three passes, so weight gradients accumulate in the same order as under 1F1B.
     */
    public static Schedule zbH1(int p, int m) {
        requireSizes(p, m);
        return build("ZB-H1", p, m, 1, r -> {
            int warmup = Math.min(p - r - 1, m);
            int delay = Math.min(p - 1 - warmup, m);
            List<Action> actions = new ArrayList<>(3 * m);
            int weights = 0;
            for (int k = 0; k < warmup; k++) {
                actions.add(Action.forward(r, k));
            }
            for (int k = 0; k < m; k++) {
                if (warmup + k < m) {
                    actions.add(Action.forward(r, warmup + k));
                }
                actions.add(Action.backwardInput(r, k));
                if (k >= delay) {
                    actions.add(Action.backwardWeight(r, weights++));
                }
            }
            while (weights < m) {
                actions.add(Action.backwardWeight(r, weights++));
            }
            return actions;
        });
    }

    /**
     * Interleaved 1F1B with {@code v} model chunks per rank, in the order of Megatron-LM's
     * {@code forward_backward_pipelining_with_interleaving}. Rank {@code r} runs {@code v·m} forwards and backwards;
     * its {@code k}-th forward is on chunk {@code (k mod p·v) / p} (stage {@code chunk·p + r}) for micro-batch
     * {@code (k / (p·v))·p + k mod p}, i.e. micro-batches go in groups of {@code p}, each group through chunk 0, then
     * chunk 1, ...; its {@code k}-th backward is the same with the chunks reversed ({@code v−1−chunk}). Warm-up:
     * {@code w = min((v−1)·p + 2·(p−r−1), v·m)} forwards, or all {@code v·m} when {@code m = p}; then one forward and
     * one backward alternately; then the remaining backwards.
     *
     * <p>Requirements, as Megatron-LM (core 0.7) states them: {@code m} must be a multiple of {@code p} ("number of
     * microbatches is not divisible by pipeline-model-parallel-size when using interleaved schedule"), which also makes
     * {@code m ≥ p}; and {@code v ≥ 2} (with one chunk per rank use {@link #oneFOneB}). Megatron's parallel-state setup
     * also asked for {@code p > 2}, a limit of its point-to-point layer; here the validator proves {@code p = 1, 2}
     * run under {@link SendRecvLowering}'s semantics, so they are accepted.
     *
     * @throws IllegalArgumentException for an invalid {@code (p, m, v)}, saying which requirement failed
     */
    public static Schedule interleaved1F1B(int p, int m, int v) {
        requireSizes(p, m);
        if (v < 2) {
            throw new IllegalArgumentException("interleaved 1F1B needs v >= 2 model chunks per rank, got v=" + v
                    + "; with one chunk per rank use Schedules.oneFOneB(p, m)");
        }
        if (m % p != 0) {
            throw new IllegalArgumentException("interleaved 1F1B needs m (=" + m + ") to be a multiple of p (=" + p
                    + "): micro-batches go through the chunks in groups of p; use m=" + (m / p + 1) * p
                    + (m > p ? " or m=" + m / p * p : ""));
        }
        int total = v * m;
        return build("interleaved 1F1B", p, m, v, r -> {
            int warmup = m == p ? total : Math.min((v - 1) * p + 2 * (p - r - 1), total);
            return oneFOneBOrder(total, warmup,
                    k -> Action.forward(interleavedChunk(k, p, v) * p + r, interleavedMicroBatch(k, p, v)),
                    k -> Action.backward((v - 1 - interleavedChunk(k, p, v)) * p + r, interleavedMicroBatch(k, p, v)));
        });
    }

    private static int interleavedChunk(int k, int p, int v) {
        return (k % (p * v)) / p;
    }

    private static int interleavedMicroBatch(int k, int p, int v) {
        return (k / (p * v)) * p + k % p;
    }

    /** {@code warmup} forwards, then forward/backward pairs, then the remaining backwards: {@code n} of each. */
    private static List<Action> oneFOneBOrder(int n, int warmup, IntFunction<Action> forward,
                                              IntFunction<Action> backward) {
        List<Action> actions = new ArrayList<>(2 * n);
        for (int k = 0; k < warmup; k++) {
            actions.add(forward.apply(k));
        }
        for (int k = 0; k < n - warmup; k++) {
            actions.add(forward.apply(warmup + k));
            actions.add(backward.apply(k));
        }
        for (int k = n - warmup; k < n; k++) {
            actions.add(backward.apply(k));
        }
        return actions;
    }

    private static Schedule build(String name, int p, int m, int v, IntFunction<List<Action>> rankActions) {
        List<List<Action>> actions = new ArrayList<>(p);
        for (int r = 0; r < p; r++) {
            actions.add(rankActions.apply(r));
        }
        return new Schedule(name, p, m, v, actions);
    }

    private static void requireSizes(int p, int m) {
        if (p < 1 || m < 1) {
            throw new IllegalArgumentException("a pipeline needs p >= 1 ranks and m >= 1 micro-batches, got p=" + p
                    + ", m=" + m);
        }
    }
}
