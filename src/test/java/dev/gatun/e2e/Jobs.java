package dev.gatun.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the e2e tests of jobs share: finding programs, a rank JVM's command line, a run's step losses. */
final class Jobs {
    private Jobs() {
    }

    /** Whether {@code program} is an executable on PATH. */
    static boolean onPath(String program) {
        return Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, program)));
    }

    /** This JVM's Java and class path running {@code gatun args}: one rank's command line. */
    static List<String> gatun(String... args) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "--add-modules",
                "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"), "dev.gatun.cli.GatunCli"));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** {@code cmd} with the settings Open MPI needs to run as root, where CI runs. */
    static ProcessBuilder asRoot(List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        return pb;
    }

    /** The step losses of a run's {@code metrics.jsonl}. */
    static double[] losses(Path metrics) throws java.io.IOException {
        Pattern loss = Pattern.compile("\"loss\":([0-9.eE+-]+)");
        return Files.readAllLines(metrics).stream().mapToDouble(line -> {
            Matcher m = loss.matcher(line);
            assertTrue(m.find(), line);
            return Double.parseDouble(m.group(1));
        }).toArray();
    }
}
