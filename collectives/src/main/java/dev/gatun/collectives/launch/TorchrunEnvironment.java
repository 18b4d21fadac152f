package dev.gatun.collectives.launch;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where this process stands in a multi-process job, as torchrun (or {@link LocalLauncher}) describes it in the
 * environment: {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code LOCAL_WORLD_SIZE}, {@code MASTER_ADDR},
 * {@code MASTER_PORT}, plus our own optional {@code GATUN_JOB_TOKEN}, the shared secret every connection to the
 * job's {@link RendezvousServer} must present (empty when unset).
 *
 * <p>Nodes are homogeneous, as torchrun lays them out: {@code LOCAL_WORLD_SIZE} processes per node, global ranks
 * numbered node by node, so {@code nodeRank = rank / localWorldSize} and {@code localRank = rank % localWorldSize}.
 * Every inconsistency is rejected with the variables and values involved ({@code "RANK=5 must be < WORLD_SIZE=4"}).
 *
 * @param rank           global rank, {@code 0 <= rank < worldSize}
 * @param worldSize      number of processes in the job
 * @param localRank      rank within this node, {@code rank % localWorldSize}
 * @param localWorldSize processes on each node; divides {@code worldSize}
 * @param masterAddr     host of rank 0, where the rendezvous server listens
 * @param masterPort     the rendezvous server's port, 1..65535
 * @param jobToken       the job's shared secret, at most {@link RendezvousStore#MAX_TOKEN_BYTES} UTF-8 bytes; may be
 *                       empty. {@link #toString()} never shows it.
 */
public record TorchrunEnvironment(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr,
                                  int masterPort, String jobToken) {
    public static final String RANK = "RANK";
    public static final String WORLD_SIZE = "WORLD_SIZE";
    public static final String LOCAL_RANK = "LOCAL_RANK";
    public static final String LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE";
    public static final String MASTER_ADDR = "MASTER_ADDR";
    public static final String MASTER_PORT = "MASTER_PORT";
    /** Our variable, not torchrun's: the job's shared secret for the rendezvous store. */
    public static final String JOB_TOKEN = "GATUN_JOB_TOKEN";

    private static final List<String> REQUIRED =
            List.of(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT);

    /** Validates the layout; every message names the variables and values involved. */
    public TorchrunEnvironment {
        if (worldSize < 1) {
            throw new IllegalArgumentException(WORLD_SIZE + "=" + worldSize + " must be >= 1");
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(RANK + "=" + rank + (rank < 0 ? " must be >= 0"
                    : " must be < " + WORLD_SIZE + "=" + worldSize));
        }
        if (localWorldSize < 1 || localWorldSize > worldSize) {
            throw new IllegalArgumentException(LOCAL_WORLD_SIZE + "=" + localWorldSize + " must be in [1, "
                    + WORLD_SIZE + "=" + worldSize + "]");
        }
        if (worldSize % localWorldSize != 0) {
            throw new IllegalArgumentException(LOCAL_WORLD_SIZE + "=" + localWorldSize + " must divide " + WORLD_SIZE
                    + "=" + worldSize + " (every node runs the same number of processes)");
        }
        if (localRank < 0 || localRank >= localWorldSize) {
            throw new IllegalArgumentException(LOCAL_RANK + "=" + localRank + (localRank < 0 ? " must be >= 0"
                    : " must be < " + LOCAL_WORLD_SIZE + "=" + localWorldSize));
        }
        if (localRank != rank % localWorldSize) {
            throw new IllegalArgumentException(LOCAL_RANK + "=" + localRank + " must equal " + RANK + " % "
                    + LOCAL_WORLD_SIZE + " = " + rank + " % " + localWorldSize + " = " + rank % localWorldSize
                    + " (ranks are numbered node by node)");
        }
        if (masterAddr == null || masterAddr.isBlank()) {
            throw new IllegalArgumentException(MASTER_ADDR + "='" + masterAddr + "' must name rank 0's host");
        }
        if (masterPort < 1 || masterPort > 65535) {
            throw new IllegalArgumentException(MASTER_PORT + "=" + masterPort + " must be in [1, 65535]");
        }
        if (jobToken == null) {
            throw new IllegalArgumentException(JOB_TOKEN + " must not be null (use \"\" for no token)");
        }
        int tokenBytes = jobToken.getBytes(StandardCharsets.UTF_8).length;
        if (tokenBytes > RendezvousStore.MAX_TOKEN_BYTES) {
            throw new IllegalArgumentException(JOB_TOKEN + " has " + tokenBytes + " bytes, over the limit of "
                    + RendezvousStore.MAX_TOKEN_BYTES);
        }
    }

    /** Whether {@code env} describes a launched process at all: {@code RANK} or {@code WORLD_SIZE} is set. */
    public static boolean isPresent(Map<String, String> env) {
        return env.containsKey(RANK) || env.containsKey(WORLD_SIZE);
    }

    /** Reads this process's environment ({@link System#getenv()}). */
    public static TorchrunEnvironment fromSystem() {
        return from(System.getenv());
    }

    /**
     * Reads and validates the variables from {@code env}.
     *
     * @throws IllegalArgumentException naming the variable that is missing, not a number, or inconsistent
     */
    public static TorchrunEnvironment from(Map<String, String> env) {
        for (String name : REQUIRED) {
            if (!env.containsKey(name)) {
                throw new IllegalArgumentException(name + " is not set; torchrun (and LocalLauncher) set "
                        + String.join(", ", REQUIRED) + " for every process they start");
            }
        }
        return new TorchrunEnvironment(integer(env, RANK), integer(env, WORLD_SIZE), integer(env, LOCAL_RANK),
                integer(env, LOCAL_WORLD_SIZE), env.get(MASTER_ADDR), integer(env, MASTER_PORT),
                env.getOrDefault(JOB_TOKEN, ""));
    }

    private static int integer(Map<String, String> env, String name) {
        String value = env.get(name);
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "='" + value + "' is not an integer", e);
        }
    }

    /** The node this process runs on: {@code rank / localWorldSize}. */
    public int nodeRank() {
        return rank / localWorldSize;
    }

    /** The number of nodes: {@code worldSize / localWorldSize}. */
    public int nodeCount() {
        return worldSize / localWorldSize;
    }

    /** The variables that describe this process, as {@link #from} reads them back. */
    public Map<String, String> toVariables() {
        Map<String, String> vars = new LinkedHashMap<>();
        vars.put(RANK, Integer.toString(rank));
        vars.put(WORLD_SIZE, Integer.toString(worldSize));
        vars.put(LOCAL_RANK, Integer.toString(localRank));
        vars.put(LOCAL_WORLD_SIZE, Integer.toString(localWorldSize));
        vars.put(MASTER_ADDR, masterAddr);
        vars.put(MASTER_PORT, Integer.toString(masterPort));
        vars.put(JOB_TOKEN, jobToken);
        return vars;
    }

    /** The layout without the token's value, so it is safe to log. */
    @Override
    public String toString() {
        return "TorchrunEnvironment[rank=" + rank + ", worldSize=" + worldSize + ", localRank=" + localRank
                + ", localWorldSize=" + localWorldSize + ", master=" + masterAddr + ":" + masterPort
                + ", jobToken=" + (jobToken.isEmpty() ? "<none>" : "<set>") + "]";
    }
}
