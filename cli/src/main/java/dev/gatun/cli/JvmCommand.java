package dev.gatun.cli;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How to start another JVM that runs the {@code gatun} command line like this one: the same {@code java}, the JVM
 * flags this one got, the same class path, main class {@link GatunCli}.
 *
 * @param java      the {@code java} executable
 * @param flags     the JVM options, always including {@link #REQUIRED_FLAGS}
 * @param classPath the class path ({@code gatun.jar} under {@code ./gatun}, the module class paths under Maven)
 */
record JvmCommand(String java, List<String> flags, String classPath) {
    /** What the native code and the CPU kernels need, whether or not this JVM was given them. */
    static final List<String> REQUIRED_FLAGS =
            List.of("--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector");

    JvmCommand {
        flags = List.copyOf(flags);
    }

    /**
     * This JVM's command. Left out of the flags: those that came from {@code JAVA_TOOL_OPTIONS} and
     * {@code JDK_JAVA_OPTIONS} (the children inherit the environment, so they would get them twice) and a JDWP debug
     * agent (its port could be bound only once).
     */
    static JvmCommand current() {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> input = ManagementFactory.getRuntimeMXBean().getInputArguments();
        List<String> fromEnvironment = new ArrayList<>(words(System.getenv("JAVA_TOOL_OPTIONS")));
        fromEnvironment.addAll(words(System.getenv("JDK_JAVA_OPTIONS")));
        if (input.size() >= fromEnvironment.size()
                && input.subList(0, fromEnvironment.size()).equals(fromEnvironment)) {
            input = input.subList(fromEnvironment.size(), input.size());
        }
        List<String> flags = new ArrayList<>(input.stream()
                .filter(f -> !f.startsWith("-agentlib:jdwp") && !f.startsWith("-Xrunjdwp")).toList());
        REQUIRED_FLAGS.stream().filter(f -> !flags.contains(f)).forEach(flags::add);
        return new JvmCommand(java, flags, System.getProperty("java.class.path"));
    }

    /** The command line that runs {@code gatun <gatunArgs>}. */
    List<String> running(List<String> gatunArgs) {
        List<String> command = new ArrayList<>();
        command.add(java);
        command.addAll(flags);
        command.addAll(List.of("-cp", classPath, GatunCli.class.getName()));
        command.addAll(gatunArgs);
        return command;
    }

    private static List<String> words(String text) {
        return text == null || text.isBlank() ? List.of() : Arrays.asList(text.strip().split("\\s+"));
    }
}
