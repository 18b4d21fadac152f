package dev.gatun.train.checkpoint;

import dev.gatun.memory.Shape;
import dev.gatun.tp.Parameter;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The full (unsharded) parameters of a model by Gatun name, as fp32 arrays in each parameter's global row-major
 * layout: what every rank's shards are put back into ({@link #put}) and taken from ({@link #fill}) by their global
 * indices ({@link Parameter#globalIndex}), whatever the layout. Safe to fill from several rank threads.
 */
public final class ModelWeights {
    /** One full parameter. */
    public record Full(Shape shape, float[] values) {
    }

    private final Map<String, Full> byName = new TreeMap<>();

    /** Writes shard {@code p}'s values {@code local} into the full parameter (created on first use). */
    public synchronized void put(Parameter p, float[] local) {
        Full f = byName.computeIfAbsent(p.name(),
                n -> new Full(p.globalShape(), new float[Math.toIntExact(p.globalShape().numel())]));
        if (!f.shape().equals(p.globalShape())) {
            throw new IllegalArgumentException("parameter '" + p.name() + "' is " + p.globalShape()
                    + " on one rank and " + f.shape() + " on another");
        }
        for (int i = 0; i < local.length; i++) {
            f.values()[(int) p.globalIndex(i)] = local[i];
        }
    }

    /** Adds a full parameter. */
    public synchronized void put(String name, Shape shape, float[] values) {
        if (values.length != shape.numel()) {
            throw new IllegalArgumentException("parameter '" + name + "': " + values.length + " values for " + shape);
        }
        byName.put(name, new Full(shape, values));
    }

    /**
     * Shard {@code p}'s values from the full parameter: element {@code i} is the full parameter's element
     * {@code globalIndex(i)}, or {@code keep[i]} where the stored parameter is smaller (rows of vocabulary padding
     * that another layout did not have).
     *
     * @throws IllegalArgumentException when the parameter is missing or its rows have another width
     */
    public synchronized float[] fill(Parameter p, float[] keep) {
        Full f = byName.get(p.name());
        if (f == null) {
            throw new IllegalArgumentException("the weights have no parameter '" + p.name() + "'");
        }
        Shape want = p.globalShape();
        boolean sameRows = f.shape().rank() == want.rank() && (want.rank() < 2
                || f.shape().numel() / f.shape().dim(0) == want.numel() / want.dim(0));
        if (!sameRows || (!f.shape().equals(want) && want.rank() != 2)) {
            throw new IllegalArgumentException("parameter '" + p.name() + "' is " + f.shape() + " in the weights but "
                    + want + " in the model");
        }
        float[] out = keep.clone();
        for (int i = 0; i < out.length; i++) {
            long g = p.globalIndex(i);
            if (g < f.values().length) {
                out[i] = f.values()[(int) g];
            }
        }
        return out;
    }

    /** The parameters by name. */
    public synchronized Map<String, Full> all() {
        return Collections.unmodifiableMap(new TreeMap<>(byName));
    }

    /** The full parameter {@code name}, or null. */
    public synchronized Full get(String name) {
        return byName.get(name);
    }
}
