package dev.gatun.train;

import java.util.Map;
import java.util.Objects;

/**
 * Which {@link Recompute} mode each layer uses: one mode for every layer, with optional overrides by layer name (e.g.
 * full recomputation for the first blocks only, as Megatron's {@code --recompute-num-layers}). Layers that have
 * nothing to recompute (an embedding, an output head) keep everything whatever the plan says.
 *
 * @param defaultMode the mode of every layer not named in {@code byLayer}
 * @param byLayer     modes by layer name ({@link Layer#name()}, e.g. {@code "h3"})
 */
public record RecomputePlan(Recompute defaultMode, Map<String, Recompute> byLayer) {
    /** No recomputation anywhere. */
    public static final RecomputePlan NONE = new RecomputePlan(Recompute.NONE, Map.of());

    public RecomputePlan {
        Objects.requireNonNull(defaultMode, "defaultMode must not be null");
        byLayer = Map.copyOf(Objects.requireNonNull(byLayer, "byLayer must not be null"));
    }

    /** {@code mode} for every layer. */
    public static RecomputePlan all(Recompute mode) {
        return new RecomputePlan(mode, Map.of());
    }

    /** The mode of the layer named {@code layer}. */
    public Recompute modeOf(String layer) {
        return byLayer.getOrDefault(layer, defaultMode);
    }

    /** This plan with {@code layer} in {@code mode}. */
    public RecomputePlan with(String layer, Recompute mode) {
        var m = new java.util.HashMap<>(byLayer);
        m.put(Objects.requireNonNull(layer, "layer must not be null"), Objects.requireNonNull(mode,
                "mode must not be null"));
        return new RecomputePlan(defaultMode, m);
    }

    /** {@code none}, {@code full}, or e.g. {@code selective (h0: full)}. */
    @Override
    public String toString() {
        if (byLayer.isEmpty()) {
            return defaultMode.label();
        }
        var parts = new java.util.TreeMap<>(byLayer);
        StringBuilder s = new StringBuilder(defaultMode.label()).append(" (");
        parts.forEach((k, v) -> s.append(s.charAt(s.length() - 1) == '(' ? "" : ", ").append(k).append(": ")
                .append(v.label()));
        return s.append(')').toString();
    }
}
