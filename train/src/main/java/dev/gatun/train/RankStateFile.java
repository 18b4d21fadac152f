package dev.gatun.train;

import dev.gatun.train.checkpoint.SafetensorsDtype;
import dev.gatun.train.checkpoint.SafetensorsFile;
import dev.gatun.train.checkpoint.SafetensorsWriter;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;
import dev.gatun.zero.FlatLayout;
import dev.gatun.zero.Shard;
import dev.gatun.zero.ZeroOptimizer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One rank's checkpoint file: what it owns of the training state, and where each owned element lies in the full
 * model, so that a run in another layout can put it back together.
 *
 * <p>Tensors (all fp32 but the maps): {@code params.<unit>} (this rank's shard of each unit's parameters),
 * {@code master} (mixed precision), {@code adam_m}, {@code adam_v} (this rank's shards of all units, concatenated), and
 * for every piece of a parameter in an owned shard an int64 {@code map.<unit>.<parameter> [n, 3]} of runs
 * {@code (local, global, length)}: state element {@code local + k} (in the concatenated shards) is element
 * {@code global + k} of the full parameter. Metadata: {@code shard_start.<unit>} (where the unit's shard starts in the
 * concatenated shards), {@code global_shape.<parameter>} (the full parameter's shape), the optimizer's applied steps
 * and the loss scaler's state.
 */
final class RankStateFile {
    private static final String MAP = "map.";

    private RankStateFile() {
    }

    /** Where unit {@code u}'s owned shard starts in the concatenated shards. */
    /**
     * The unit of a map entry {@code <unit>.<parameter>}: both names may hold dots (a Llama layer is
     * {@code layers.3}), so the unit is the shortest prefix ending at a dot whose shard start the file records.
     */
    private static String unitOf(SafetensorsFile f, String entry) {
        for (int dot = entry.indexOf('.'); dot >= 0; dot = entry.indexOf('.', dot + 1)) {
            String unit = entry.substring(0, dot);
            if (f.metadata().containsKey("shard_start." + unit)) {
                return unit;
            }
        }
        return null;
    }

    private static long[] shardStarts(ZeroOptimizer opt) {
        int units = opt.layout().units().size();
        long[] start = new long[units];
        long at = 0;
        for (int u = 0; u < units; u++) {
            start[u] = at;
            at += opt.ownedShard(u).size();
        }
        return start;
    }

    /** Calls {@code visit} for every piece of a parameter inside an owned shard. */
    private interface PieceVisitor {
        void visit(int unit, FlatLayout.Entry entry, long unitFrom, long unitTo, long local);
    }

    private static void forEachPiece(ZeroOptimizer opt, PieceVisitor visit) {
        long[] start = shardStarts(opt);
        for (FlatLayout.Unit unit : opt.layout().units()) {
            Shard owned = opt.ownedShard(unit.index());
            for (FlatLayout.Entry e : unit.entries()) {
                long from = Math.max(e.offset(), owned.offset());
                long to = Math.min(e.offset() + e.numel(), owned.end());
                if (from < to) {
                    visit.visit(unit.index(), e, from, to, start[unit.index()] + from - owned.offset());
                }
            }
        }
    }

    static void write(Path file, ZeroOptimizer opt, Map<String, Parameter> params, DeviceStream stream,
                      long nextStep) {
        var w = new SafetensorsWriter();
        opt.ownedState().forEach((name, t) -> w.addFloats(name, new long[]{t.numel()}, t.toFloatArray(stream)));
        forEachPiece(opt, (u, e, from, to, local) -> {
            Parameter p = params.get(e.name());
            List<long[]> runs = new ArrayList<>();
            long first = from - e.offset();
            for (long i = first; i < to - e.offset(); i++) {
                long g = p.globalIndex(i);
                long[] last = runs.isEmpty() ? null : runs.getLast();
                if (last != null && last[1] + last[2] == g) {
                    last[2]++;
                } else {
                    runs.add(new long[]{local + i - first, g, 1});
                }
            }
            ByteBuffer b = ByteBuffer.allocate(runs.size() * 24).order(ByteOrder.LITTLE_ENDIAN);
            runs.forEach(r -> b.putLong(r[0]).putLong(r[1]).putLong(r[2]));
            w.add(MAP + opt.layout().units().get(u).name() + "." + e.name(), SafetensorsDtype.I64,
                    new long[]{runs.size(), 3}, b.flip());
        });
        long[] start = shardStarts(opt);
        for (FlatLayout.Unit unit : opt.layout().units()) {
            w.metadata("shard_start." + unit.name(), Long.toString(start[unit.index()]));
            for (FlatLayout.Entry e : unit.entries()) {
                w.metadata("global_shape." + e.name(), Arrays.toString(params.get(e.name()).globalShape().dims()));
            }
        }
        w.metadata("next_step", Long.toString(nextStep)).metadata("applied_steps", Long.toString(opt.steps()))
                .metadata("loss_scale", Float.toString(opt.lossScale()))
                .metadata("clean_steps", Integer.toString(opt.lossScaler() == null ? 0 : opt.lossScaler().cleanSteps()));
        w.write(file);
    }

    /** Restores a file this rank wrote in the same layout. */
    static void readSameLayout(Path file, ZeroOptimizer opt, DeviceStream stream) {
        SafetensorsFile f = SafetensorsFile.open(file);
        opt.ownedState().forEach((name, t) -> {
            if (!f.entries().containsKey(name)) {
                throw new IllegalArgumentException(file + " has no tensor '" + name + "'");
            }
            if (f.entry(name).numel() != t.numel()) {
                throw new IllegalArgumentException(file + ": tensor '" + name + "' has " + f.entry(name).numel()
                        + " elements but this rank's state has " + t.numel() + " (saved with another layout?)");
            }
            t.copyFrom(f.readFloats(name), stream);
        });
        restoreCounters(f, opt);
    }

    private static void restoreCounters(SafetensorsFile f, ZeroOptimizer opt) {
        var meta = f.metadata();
        opt.restore(Long.parseLong(meta.get("applied_steps")), Float.parseFloat(meta.get("loss_scale")),
                Integer.parseInt(meta.get("clean_steps")));
    }

    /**
     * Restores from the files of a run in another layout: the full weights and Adam moments of this rank's
     * parameters are put together from every file's pieces by global index (reading only the byte ranges of those
     * pieces), then this rank's owned elements are taken from them. Vocabulary rows another layout did not have (padding) keep their initial values.
     */
    static void readResharded(List<Path> files, ZeroOptimizer opt, Map<String, Parameter> params,
                              DeviceStream stream) {
        Map<String, float[][]> full = new HashMap<>();
        SafetensorsFile any = null;
        for (Path file : files) {
            SafetensorsFile f = SafetensorsFile.open(file);
            any = f;
            boolean hasMaster = f.entries().containsKey("master");
            for (String name : f.entries().keySet()) {
                if (!name.startsWith(MAP)) {
                    continue;
                }
                String rest = name.substring(MAP.length());
                String unit = unitOf(f, rest);
                if (unit == null) {
                    throw new IllegalArgumentException("the checkpoint file " + file + " names '" + rest
                            + "' without the shard of its unit");
                }
                Parameter p = params.get(rest.substring(unit.length() + 1));
                if (p == null) {
                    continue; // another rank's parameter: its bytes are not read
                }
                int numel = Math.toIntExact(p.globalShape().numel());
                float[][] a = full.computeIfAbsent(p.name(), k -> {
                    float[][] n = new float[3][numel];
                    Arrays.fill(n[0], Float.NaN);
                    return n;
                });
                long start = Long.parseLong(f.metadata().get("shard_start." + unit));
                LongBuffer runs = f.readBytes(name).asLongBuffer();
                while (runs.hasRemaining()) {
                    long local = runs.get();
                    long global = runs.get();
                    int length = (int) Math.min(runs.get(), numel - global);
                    if (length <= 0) {
                        continue; // vocabulary padding this layout does not have
                    }
                    float[] w = hasMaster ? f.readFloats("master", local, length)
                            : f.readFloats("params." + unit, local - start, length);
                    System.arraycopy(w, 0, a[0], (int) global, length);
                    System.arraycopy(f.readFloats("adam_m", local, length), 0, a[1], (int) global, length);
                    System.arraycopy(f.readFloats("adam_v", local, length), 0, a[2], (int) global, length);
                }
            }
        }
        Map<String, Tensor> state = opt.ownedState();
        Map<String, float[]> host = new HashMap<>();
        state.forEach((name, t) -> host.put(name, t.toFloatArray(stream)));
        long[] start = shardStarts(opt);
        forEachPiece(opt, (u, e, from, to, local) -> {
            float[][] a = full.get(e.name());
            if (a == null) {
                throw new IllegalArgumentException("the checkpoint " + files.getFirst().getParent()
                        + " holds no values of parameter '" + e.name() + "'");
            }
            Parameter p = params.get(e.name());
            float[] unitParams = host.get("params." + opt.layout().units().get(u).name());
            for (long i = from - e.offset(); i < to - e.offset(); i++) {
                int g = (int) p.globalIndex(i);
                int l = (int) (local + i - (from - e.offset()));
                if (Float.isNaN(a[0][g])) {
                    continue; // padding the saved layout did not have
                }
                unitParams[(int) (l - start[u])] = a[0][g];
                if (host.containsKey("master")) {
                    host.get("master")[l] = a[0][g];
                }
                host.get("adam_m")[l] = a[1][g];
                host.get("adam_v")[l] = a[2][g];
            }
        });
        state.forEach((name, t) -> t.copyFrom(host.get(name), stream));
        restoreCounters(any, opt);
    }
}
