package dev.gatun.e2e.gpu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One command of a GPU check step, as data: what it runs on the GPU machine (through the pack's {@code .gpu/run.sh})
 * and what a dry run checks about it on a machine without a GPU.
 */
sealed interface GpuCommand {
    /** The process to start from the project root; {@code launcher} is the pack's {@code run.sh}. */
    List<String> argv(Path launcher);

    /** The command as the log shows it. */
    default String display(Path launcher) {
        return String.join(" ", argv(launcher));
    }

    /** {@code gatun ARGS}: the command line's main class on the pack's class path. */
    record Gatun(List<String> args) implements GpuCommand {
        static final String MAIN = "dev.gatun.cli.GatunCli";

        public Gatun {
            args = List.copyOf(args);
        }

        static Gatun of(String... args) {
            return new Gatun(List.of(args));
        }

        @Override
        public List<String> argv(Path launcher) {
            return concat(List.of(launcher.toString(), "--main", MAIN), args);
        }
    }

    /**
     * The JUnit console launcher over the pack's test jars, keeping the test classes tagged {@code tag} in
     * {@code packages} (and sub-packages) whose names match one of {@code classNames} (JUnit's default name pattern
     * when empty), with the XML report in {@code reports}. {@code expected} names classes the step must find: a dry
     * run fails when one is missing, untagged or filtered out.
     */
    record Tests(String tag, List<String> packages, List<String> classNames, Path reports, List<String> expected)
            implements GpuCommand {
        /** JUnit's own default for {@code --include-classname}. */
        static final String DEFAULT_CLASS_NAMES = "^(Test.*|.+[.$]Test.*|.*Tests?)$";

        public Tests {
            packages = List.copyOf(packages);
            classNames = List.copyOf(classNames);
            expected = List.copyOf(expected);
        }

        /** The class-name patterns in effect. */
        List<String> effectiveClassNames() {
            return classNames.isEmpty() ? List.of(DEFAULT_CLASS_NAMES) : classNames;
        }

        /** Whether the launcher would keep {@code className} (before the tag filter). */
        boolean selects(String className) {
            boolean inPackage = packages.isEmpty() || packages.stream()
                    .anyMatch(p -> className.startsWith(p + "."));
            return inPackage && effectiveClassNames().stream().anyMatch(className::matches);
        }

        @Override
        public List<String> argv(Path launcher) {
            List<String> argv = new ArrayList<>(List.of(launcher.toString(), "--include-tag", tag));
            packages.forEach(p -> argv.addAll(List.of("--include-package", p)));
            classNames.forEach(c -> argv.addAll(List.of("--include-classname", c)));
            argv.addAll(List.of("--reports-dir", reports.toString(), "--fail-if-no-tests"));
            return argv;
        }
    }

    /** A JMH benchmark class with JMH's command-line options (e.g. {@code -p n=8192 -rf json -rff FILE}). */
    record Benchmark(String benchmarkClass, List<String> options) implements GpuCommand {
        static final String MAIN = "org.openjdk.jmh.Main";

        public Benchmark {
            options = List.copyOf(options);
        }

        /** The {@code -p name=value} parameter names. */
        List<String> parameterNames() {
            List<String> names = new ArrayList<>();
            for (int i = 0; i + 1 < options.size(); i++) {
                if (options.get(i).equals("-p")) {
                    names.add(options.get(i + 1).substring(0, Math.max(0, options.get(i + 1).indexOf('='))));
                }
            }
            return names;
        }

        @Override
        public List<String> argv(Path launcher) {
            return concat(List.of(launcher.toString(), "--main", MAIN, benchmarkClass), options);
        }
    }

    /**
     * A program of the GPU machine ({@code nvidia-smi}, the Python that has PyTorch); {@code script}, when given, is
     * the project's file that the program runs, which a dry run checks.
     */
    record Program(List<String> command, Path script) implements GpuCommand {
        public Program {
            command = List.copyOf(command);
        }

        @Override
        public List<String> argv(Path launcher) {
            return command;
        }
    }

    private static List<String> concat(List<String> head, List<String> tail) {
        List<String> all = new ArrayList<>(head);
        all.addAll(tail);
        return List.copyOf(all);
    }
}
