package dev.gatun.collectives;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.IntStream;

/**
 * How {@code dp × pp × tp} ranks are laid out for 3D parallelism, as Megatron-LM does: tensor parallel innermost (a
 * tp group is consecutive ranks, so it shares a node and its NVLink), then data parallel, then pipeline stages:
 * <pre>
 *     rank = pp_i · (dp · tp) + dp_i · tp + tp_i
 * </pre>
 * A rank's tp group is the ranks with its {@code (pp_i, dp_i)}, its dp group those with its {@code (pp_i, tp_i)}, its
 * pp group (the pipeline it is a stage of) those with its {@code (dp_i, tp_i)}; each group is ordered by the varying
 * index, so a rank's index in its tp group is {@code tp_i}, and so on. Pure data: {@link #groups} makes the
 * communicators.
 *
 * @param dp data-parallel degree (model replicas)
 * @param pp pipeline-parallel degree (stages)
 * @param tp tensor-parallel degree (shards of each layer)
 */
public record DeviceMesh(int dp, int pp, int tp) {
    /**
     * A rank's place in the mesh.
     *
     * @param dp its index among the data-parallel replicas
     * @param pp its pipeline stage
     * @param tp its index within its tensor-parallel group
     */
    public record Coordinates(int dp, int pp, int tp) {
        @Override
        public String toString() {
            return "(dp=" + dp + ", pp=" + pp + ", tp=" + tp + ")";
        }
    }

    public DeviceMesh {
        if (dp < 1 || pp < 1 || tp < 1) {
            throw new IllegalArgumentException("dp, pp and tp must each be >= 1, got dp=" + dp + ", pp=" + pp
                    + ", tp=" + tp);
        }
        if ((long) dp * pp * tp > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("dp=" + dp + " × pp=" + pp + " × tp=" + tp + " is too many ranks");
        }
    }

    /** The mesh, checked against a world of {@code worldSize} ranks (see {@link #requireWorldSize}). */
    public static DeviceMesh of(int dp, int pp, int tp, int worldSize) {
        DeviceMesh mesh = new DeviceMesh(dp, pp, tp);
        mesh.requireWorldSize(worldSize);
        return mesh;
    }

    /** The number of ranks: {@code dp · pp · tp}. */
    public int size() {
        return dp * pp * tp;
    }

    /**
     * Checks that the mesh covers a world of {@code worldSize} ranks.
     *
     * @throws IllegalArgumentException e.g. {@code "dp=2 × pp=2 × tp=3 = 12 ranks, but the world has 8"}
     */
    public void requireWorldSize(int worldSize) {
        if (size() != worldSize) {
            throw new IllegalArgumentException(layout() + ", but the world has " + worldSize
                    + ": choose dp, pp and tp whose product is the number of ranks");
        }
    }

    /** The rank at the given coordinates. */
    public int rank(Coordinates c) {
        checkIndex("dp", c.dp(), dp);
        checkIndex("pp", c.pp(), pp);
        checkIndex("tp", c.tp(), tp);
        return c.pp() * dp * tp + c.dp() * tp + c.tp();
    }

    /** The coordinates of {@code rank}. */
    public Coordinates coordinates(int rank) {
        checkIndex("rank", rank, size());
        return new Coordinates((rank / tp) % dp, rank / (dp * tp), rank % tp);
    }

    /** The ranks of {@code rank}'s tensor-parallel group, by tp index. */
    public List<Integer> tpGroup(int rank) {
        Coordinates c = coordinates(rank);
        return IntStream.range(0, tp).mapToObj(i -> rank(new Coordinates(c.dp(), c.pp(), i))).toList();
    }

    /** The ranks of {@code rank}'s data-parallel group, by dp index. */
    public List<Integer> dpGroup(int rank) {
        Coordinates c = coordinates(rank);
        return IntStream.range(0, dp).mapToObj(i -> rank(new Coordinates(i, c.pp(), c.tp()))).toList();
    }

    /** The ranks of {@code rank}'s pipeline, by stage. */
    public List<Integer> ppGroup(int rank) {
        Coordinates c = coordinates(rank);
        return IntStream.range(0, pp).mapToObj(i -> rank(new Coordinates(c.dp(), i, c.tp()))).toList();
    }

    /** Every tensor-parallel group, ordered by their first rank. */
    public List<List<Integer>> tpGroups() {
        return groupsOf(this::tpGroup);
    }

    /** Every data-parallel group, ordered by their first rank. */
    public List<List<Integer>> dpGroups() {
        return groupsOf(this::dpGroup);
    }

    /** Every pipeline, ordered by their first rank. */
    public List<List<Integer>> ppGroups() {
        return groupsOf(this::ppGroup);
    }

    /** The rank of the previous pipeline stage of {@code rank} (same dp and tp index), or empty on the first stage. */
    public OptionalInt pipelinePrevious(int rank) {
        Coordinates c = coordinates(rank);
        return c.pp() == 0 ? OptionalInt.empty() : OptionalInt.of(rank(new Coordinates(c.dp(), c.pp() - 1, c.tp())));
    }

    /** The rank of the next pipeline stage of {@code rank}, or empty on the last stage. */
    public OptionalInt pipelineNext(int rank) {
        Coordinates c = coordinates(rank);
        return c.pp() == pp - 1 ? OptionalInt.empty()
                : OptionalInt.of(rank(new Coordinates(c.dp(), c.pp() + 1, c.tp())));
    }

    /**
     * This rank's tp, dp and pp communicators, split from {@code world} (a collective: every rank calls it). Their
     * names say which group they are, e.g. {@code tp[pp=0,dp=1]}; a rank's index in each is its coordinate.
     *
     * @throws IllegalArgumentException when {@code world} does not have {@link #size()} ranks
     */
    public MeshGroups groups(Communicator world) {
        requireWorldSize(world.size());
        Coordinates c = coordinates(world.rank());
        Communicator tpComm = world.split(c.pp() * dp + c.dp(), c.tp(), "tp[pp=" + c.pp() + ",dp=" + c.dp() + "]");
        Communicator dpComm = world.split(c.pp() * tp + c.tp(), c.dp(), "dp[pp=" + c.pp() + ",tp=" + c.tp() + "]");
        Communicator ppComm = world.split(c.dp() * tp + c.tp(), c.pp(), "pp[dp=" + c.dp() + ",tp=" + c.tp() + "]");
        return new MeshGroups(this, c, world, dpComm, ppComm, tpComm);
    }

    /** One line per rank: its coordinates and groups, under a heading that gives the layout. */
    public String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"rank", "pp", "dp", "tp", "tp group", "dp group", "pp group"});
        for (int r = 0; r < size(); r++) {
            Coordinates c = coordinates(r);
            rows.add(new String[] {String.valueOf(r), String.valueOf(c.pp()), String.valueOf(c.dp()),
                    String.valueOf(c.tp()), tpGroup(r).toString(), dpGroup(r).toString(), ppGroup(r).toString()});
        }
        int[] widths = new int[rows.get(0).length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        }
        StringBuilder s = new StringBuilder(layout()).append(" (rank = pp·").append(dp * tp).append(" + dp·")
                .append(tp).append(" + tp)\n");
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                String pad = " ".repeat(widths[i] - row[i].length());
                line.append(i == 0 ? "" : "  ").append(i < 4 ? pad + row[i] : row[i] + pad);
            }
            s.append(line.toString().stripTrailing()).append('\n');
        }
        return s.toString().stripTrailing();
    }

    /** {@code dp=2 × pp=2 × tp=2 = 8 ranks}. */
    @Override
    public String toString() {
        return layout();
    }

    private String layout() {
        return "dp=" + dp + " × pp=" + pp + " × tp=" + tp + " = " + (long) dp * pp * tp + " ranks";
    }

    private List<List<Integer>> groupsOf(java.util.function.IntFunction<List<Integer>> groupOf) {
        return IntStream.range(0, size()).mapToObj(groupOf).distinct().toList();
    }

    private static void checkIndex(String what, int value, int bound) {
        if (value < 0 || value >= bound) {
            throw new IllegalArgumentException(what + " " + value + " is outside [0, " + bound + ")");
        }
    }
}
