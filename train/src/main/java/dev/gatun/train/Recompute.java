package dev.gatun.train;

import java.util.Locale;

/**
 * How a transformer layer keeps what its backward needs (activation recomputation, Korthikanti et al., "Reducing
 * Activation Recomputation in Large Transformer Models", 2022). For a layer of hidden size {@code h}, {@code a} heads,
 * sequence {@code s}, micro-batch {@code b} and tensor-parallel size {@code t}, the paper's activations per layer are
 * {@code s·b·h·(34/t + 5·a·s/(h·t))} bytes in 16-bit; the kernels here are deterministic, so every mode gives the same
 * gradients bit for bit and differs only in memory and time.
 */
public enum Recompute {
    /** Keep everything the backward reads (the default). */
    NONE,
    /**
     * Keep the linear layers' inputs and recompute only the attention core (scores, softmax and the product with V) in
     * the backward: the {@code 5·a·s²·b} term goes, at the cost of one attention forward per layer.
     */
    SELECTIVE,
    /** Keep only the layer's input and run its whole forward again inside its backward (one more forward per layer). */
    FULL;

    /** The name the command line takes: {@code none}, {@code selective}, {@code full}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code none}, {@code selective} or {@code full} (any case). */
    public static Recompute parse(String text) {
        for (Recompute r : values()) {
            if (r.label().equalsIgnoreCase(text.strip())) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown recomputation '" + text + "': expected none, selective or full");
    }
}
