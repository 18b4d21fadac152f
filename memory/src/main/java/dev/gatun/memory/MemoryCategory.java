package dev.gatun.memory;

import java.util.Locale;

/**
 * What an allocation holds. Every allocation names one, so memory can be reported per category and compared with
 * the figures the parallel layouts predict (e.g. ZeRO's model-state bytes per rank).
 */
public enum MemoryCategory {
    /** Model weights, in whatever precision the layers compute with. */
    PARAMETERS,
    /** Gradients of the parameters. */
    GRADIENTS,
    /** Optimizer state: fp32 master weights and Adam moments. */
    OPTIMIZER_STATE,
    /** Activations saved for the backward pass. */
    ACTIVATIONS,
    /** Buffers for collectives: fusion and bucket buffers, send/receive staging. */
    COMMUNICATION,
    /** Short-lived scratch space: GEMM workspaces, kernel temporaries. */
    WORKSPACE;

    /** The name in words used in reports and charts, e.g. {@code "optimizer state"}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', ' ');
    }
}
