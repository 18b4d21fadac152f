package dev.gatun.collectives.launch;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Where this process stands in a multi-process job, whichever launcher started it: torchrun or {@code gatun launch}
 * ({@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code MASTER_ADDR}), Open MPI's {@code mpirun}
 * ({@code OMPI_COMM_WORLD_RANK}, {@code _SIZE}, {@code _LOCAL_RANK}, {@code _LOCAL_SIZE}), MPICH/Hydra
 * ({@code PMI_RANK}, {@code PMI_SIZE}, {@code MPI_LOCALRANKID}, {@code MPI_LOCALNRANKS}) or Slurm's {@code srun}
 * ({@code SLURM_PROCID}, {@code SLURM_NTASKS}, {@code SLURM_LOCALID}, the first host of
 * {@code SLURM_STEP_NODELIST} as the master address).
 *
 * <p>One rule of precedence: the launcher that started this very process wins, torchrun first (it may run under an
 * MPI or Slurm allocation), then Open MPI, then PMI, then Slurm; Slurm's variables under {@code mpirun} describe
 * the allocation, not this process, and are not compared. Two launchers of the process that give another rank or
 * world size (torchrun's and MPI's, Open MPI's and PMI's) are an error naming both.
 *
 * @param launcher       who started the process
 * @param rank           global rank
 * @param worldSize      processes in the job
 * @param localRank      rank on this node
 * @param localWorldSize processes on this node
 * @param masterAddr     rank 0's host where the launcher says it (torchrun, Slurm), else empty
 */
public record JobEnvironment(Launcher launcher, int rank, int worldSize, int localRank, int localWorldSize,
                             String masterAddr) {
    /** The launchers, in the order of precedence. */
    public enum Launcher {
        TORCHRUN("torchrun / gatun launch", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
        OPEN_MPI("Open MPI (mpirun)", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                "OMPI_COMM_WORLD_LOCAL_SIZE"),
        PMI("MPICH/Hydra (PMI)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
        SLURM("Slurm (srun)", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE");

        private final String description;
        private final String rankVariable;
        private final String sizeVariable;
        private final String localRankVariable;
        private final String localSizeVariable;

        Launcher(String description, String rank, String size, String localRank, String localSize) {
            this.description = description;
            this.rankVariable = rank;
            this.sizeVariable = size;
            this.localRankVariable = localRank;
            this.localSizeVariable = localSize;
        }

        @Override
        public String toString() {
            return description;
        }
    }

    public JobEnvironment {
        Objects.requireNonNull(launcher, "launcher must not be null");
        Objects.requireNonNull(masterAddr, "masterAddr must not be null");
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(launcher + ": rank " + rank + " of " + worldSize + " processes: need "
                    + "0 <= " + launcher.rankVariable + " < " + launcher.sizeVariable + " and " + launcher.sizeVariable
                    + " >= 1");
        }
        if (localWorldSize < 1 || localRank < 0 || localRank >= localWorldSize) {
            throw new IllegalArgumentException(launcher + ": local rank " + localRank + " of " + localWorldSize
                    + ": need 0 <= " + launcher.localRankVariable + " < " + launcher.localSizeVariable);
        }
    }

    /** The job this process belongs to, or empty when no launcher's variables are set (a process on its own). */
    public static Optional<JobEnvironment> fromSystem() {
        return detect(System.getenv());
    }

    /**
     * The job this process belongs to when {@code mpirun} or {@code srun} started it (an MPI communicator spans its
     * processes), else empty (a process on its own, or torchrun's).
     */
    public static Optional<JobEnvironment> mpiFromSystem() {
        return fromSystem().filter(j -> j.launcher() != Launcher.TORCHRUN);
    }

    /**
     * The job {@code env} describes, or empty when no launcher's rank and size are set.
     *
     * @throws IllegalArgumentException when a variable is not an integer, out of range, or two launchers disagree
     */
    public static Optional<JobEnvironment> detect(Map<String, String> env) {
        List<JobEnvironment> found = new ArrayList<>();
        for (Launcher l : Launcher.values()) {
            if (env.containsKey(l.rankVariable) && env.containsKey(l.sizeVariable)) {
                found.add(read(l, env));
            }
        }
        if (found.isEmpty()) {
            return Optional.empty();
        }
        JobEnvironment chosen = found.getFirst();
        for (JobEnvironment other : found.subList(1, found.size())) {
            if (other.launcher == Launcher.SLURM && chosen.launcher != Launcher.SLURM) {
                continue; // the allocation's, not this process's
            }
            if (other.rank != chosen.rank || other.worldSize != chosen.worldSize) {
                throw new IllegalArgumentException("two launchers describe this process differently: "
                        + chosen.launcher + " says rank " + chosen.rank + " of " + chosen.worldSize + " ("
                        + chosen.launcher.rankVariable + ", " + chosen.launcher.sizeVariable + "), " + other.launcher
                        + " says rank " + other.rank + " of " + other.worldSize + " (" + other.launcher.rankVariable
                        + ", " + other.launcher.sizeVariable + "): start the job with one launcher");
            }
        }
        return Optional.of(chosen);
    }

    private static JobEnvironment read(Launcher l, Map<String, String> env) {
        int rank = integer(env, l.rankVariable);
        int size = integer(env, l.sizeVariable);
        int localRank = env.containsKey(l.localRankVariable) ? integer(env, l.localRankVariable) : 0;
        int localSize = env.containsKey(l.localSizeVariable) ? localSize(env, l) : Math.max(1, localRank + 1);
        String master = switch (l) {
            case TORCHRUN -> env.getOrDefault(TorchrunEnvironment.MASTER_ADDR, "");
            case SLURM -> firstHost(env.getOrDefault("SLURM_STEP_NODELIST", env.getOrDefault("SLURM_JOB_NODELIST",
                    "")));
            case OPEN_MPI, PMI -> "";
        };
        return new JobEnvironment(l, rank, size, localRank, localSize, master);
    }

    /** Slurm's tasks per node may read {@code 4(x2),3}: the first node's count. */
    private static int localSize(Map<String, String> env, Launcher l) {
        String value = env.get(l.localSizeVariable);
        String first = value.split(",")[0].replaceAll("\\(x\\d+\\)", "");
        try {
            return Integer.parseInt(first.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(l.localSizeVariable + "='" + value + "' is not a count of processes",
                    e);
        }
    }

    private static int integer(Map<String, String> env, String name) {
        String value = env.get(name);
        try {
            return Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "='" + value + "' is not an integer", e);
        }
    }

    /**
     * The first host of a Slurm host list: {@code node[03-05,9],gpu1} gives {@code node03}, {@code a,b} gives
     * {@code a}; empty for an empty list.
     */
    public static String firstHost(String hostList) {
        String list = hostList.strip();
        if (list.isEmpty()) {
            return "";
        }
        int bracket = list.indexOf('[');
        int comma = list.indexOf(',');
        if (bracket < 0 || (comma >= 0 && comma < bracket)) {
            return comma < 0 ? list : list.substring(0, comma);
        }
        int close = list.indexOf(']', bracket);
        if (close < 0) {
            throw new IllegalArgumentException("host list '" + hostList + "' has an unclosed '['");
        }
        String range = list.substring(bracket + 1, close).split(",")[0];
        return list.substring(0, bracket) + range.split("-")[0];
    }

    @Override
    public String toString() {
        return "rank " + rank + " of " + worldSize + " (local " + localRank + " of " + localWorldSize + ", "
                + launcher + ")";
    }
}
