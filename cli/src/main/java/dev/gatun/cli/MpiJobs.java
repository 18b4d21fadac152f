package dev.gatun.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts this very command line as an {@code mpirun -np N} job of this JVM's Java and class path. */
final class MpiJobs {
    record Result(int exit, String out, String err) {
    }

    private MpiJobs() {
    }

    static boolean mpirunOnPath() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "mpirun"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Runs {@code mpirun -np ranks java ... gatun args} (with {@code --oversubscribe}, and as root the settings
     * Open MPI needs to run as root) and waits for it.
     */
    static Result run(int ranks, List<String> args) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--oversubscribe", "--bind-to", "none", "-np",
                Integer.toString(ranks), java,
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), GatunCli.class.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putIfAbsent("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().putIfAbsent("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        Path out = Files.createTempFile("gatun-mpi", ".out");
        Path err = Files.createTempFile("gatun-mpi", ".err");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            int exit = p.waitFor();
            return new Result(exit, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
