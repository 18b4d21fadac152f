package dev.gatun.zero;

import dev.gatun.memory.Shape;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Where each of a rank's parameters lies in flat buffers. Parameters are grouped into units (layers, FSDP's
 * "flat-parameter units"); each unit is one flat buffer with its parameters back to back in the order given, padded
 * to a multiple of {@code ranks} so that rank r owns the contiguous {@link #shard(int, int) shard} of every unit. A
 * single unit (the default) is one flat buffer for the whole model; ZeRO-3 gathers unit by unit. A rank's shards of
 * all units, concatenated in unit order, form its {@link #shardNumel()} elements of optimizer state. A plan:
 * printable and comparable before anything is allocated.
 */
public final class FlatLayout {
    /** A parameter: its name, shape, unit and offset within the unit's buffer. */
    public record Entry(String name, Shape shape, int unit, long offset) {
        public long numel() {
            return shape.numel();
        }
    }

    /**
     * A unit: its parameters, {@code numel} elements padded to {@code paddedNumel}; its shards start at
     * {@code shardOffset} in a rank's concatenated shards.
     */
    public record Unit(String name, int index, List<Entry> entries, long numel, long paddedNumel, long shardOffset) {
    }

    private final List<Unit> units;
    private final Map<String, Entry> byName;
    private final long numel;
    private final long paddedNumel;
    private final int ranks;

    /** One unit, called {@code "model"}, holding {@code parameters} (name → shape, in layout order). */
    public FlatLayout(Map<String, Shape> parameters, int ranks) {
        this(ranks, singleUnit(parameters));
    }

    private static Map<String, Map<String, Shape>> singleUnit(Map<String, Shape> parameters) {
        Map<String, Map<String, Shape>> units = new LinkedHashMap<>();
        units.put("model", Objects.requireNonNull(parameters, "parameters must not be null"));
        return units;
    }

    /** Units in order, each name → (parameter name → shape); parameter names are unique across units. */
    public static FlatLayout ofUnits(Map<String, Map<String, Shape>> units, int ranks) {
        return new FlatLayout(ranks, units);
    }

    private FlatLayout(int ranks, Map<String, Map<String, Shape>> units) {
        Objects.requireNonNull(units, "units must not be null");
        if (ranks < 1) {
            throw new IllegalArgumentException("ranks must be >= 1, got " + ranks);
        }
        if (units.isEmpty()) {
            throw new IllegalArgumentException("a flat layout needs at least one unit");
        }
        List<Unit> list = new ArrayList<>();
        Map<String, Entry> map = new LinkedHashMap<>();
        long total = 0;
        long padded = 0;
        for (Map.Entry<String, Map<String, Shape>> u : units.entrySet()) {
            if (u.getValue().isEmpty()) {
                throw new IllegalArgumentException("unit '" + u.getKey() + "' has no parameters");
            }
            List<Entry> entries = new ArrayList<>();
            long offset = 0;
            for (Map.Entry<String, Shape> p : u.getValue().entrySet()) {
                Entry e = new Entry(p.getKey(), Objects.requireNonNull(p.getValue(), "shape of " + p.getKey()),
                        list.size(), offset);
                if (map.put(e.name(), e) != null) {
                    throw new IllegalArgumentException("parameter '" + e.name() + "' appears twice");
                }
                entries.add(e);
                offset += e.numel();
            }
            long unitPadded = (offset + ranks - 1) / ranks * ranks;
            list.add(new Unit(u.getKey(), list.size(), Collections.unmodifiableList(entries), offset, unitPadded,
                    padded / ranks));
            total += offset;
            padded += unitPadded;
        }
        this.units = Collections.unmodifiableList(list);
        this.byName = Collections.unmodifiableMap(map);
        this.numel = total;
        this.paddedNumel = padded;
        this.ranks = ranks;
    }

    public List<Unit> units() {
        return units;
    }

    /** Every parameter, in layout order. */
    public List<Entry> entries() {
        return units.stream().flatMap(u -> u.entries().stream()).toList();
    }

    /** The parameter called {@code name}. */
    public Entry entry(String name) {
        Entry e = byName.get(name);
        if (e == null) {
            throw new IllegalArgumentException("no parameter '" + name + "'; have " + byName.keySet());
        }
        return e;
    }

    /** Ψ: the parameters' elements, without padding. */
    public long numel() {
        return numel;
    }

    /** Σ over units of the unit's elements rounded up to a multiple of {@link #ranks()}. */
    public long paddedNumel() {
        return paddedNumel;
    }

    /** A rank's elements over all its shards: {@code paddedNumel / ranks}. */
    public long shardNumel() {
        return paddedNumel / ranks;
    }

    public int ranks() {
        return ranks;
    }

    /** Rank {@code rank}'s contiguous range of unit {@code unit}'s padded buffer. */
    public Shard shard(int unit, int rank) {
        return Shard.of(units.get(unit).paddedNumel(), ranks, rank);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("FlatLayout{psi=" + numel + ", padded=" + paddedNumel + ", ranks=" + ranks);
        for (Unit u : units) {
            sb.append(", ").append(u.name()).append("[");
            for (Entry e : u.entries()) {
                sb.append(e.name()).append(e.shape()).append("@").append(e.offset()).append(' ');
            }
            sb.setLength(sb.length() - 1);
            sb.append("]/").append(u.paddedNumel());
        }
        return sb.append('}').toString();
    }
}
