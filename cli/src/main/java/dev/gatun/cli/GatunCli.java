package dev.gatun.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code gatun} command line: {@code train}, {@code bench}, {@code comm-bench}, {@code launch}, {@code info};
 * {@link #commandLine()} builds it with every command's failures mapped to one line and an exit code.
 */
@Command(name = "gatun", mixinStandardHelpOptions = true, versionProvider = GatunCli.Version.class,
        description = "3D-parallel LLM training for the JVM.",
        subcommands = {InfoCommand.class, TrainCommand.class, CommBenchCommand.class, BenchCommand.class,
                LaunchCommand.class, RendezvousCheckCommand.class, CommandLine.HelpCommand.class})
public final class GatunCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Runs the command line and returns its exit code. */
    public static int execute(String... args) {
        try {
            return commandLine().execute(args);
        } catch (OutOfMemoryError e) { // an Error passes picocli's handlers by
            System.err.println("gatun: " + CliErrors.describe(e));
            return CliErrors.FAILED;
        }
    }

    /**
     * The command line, its failures mapped to one line and an exit code ({@link CliErrors}): what {@code gatun}
     * runs, and what a caller embedding it should use.
     */
    public static CommandLine commandLine() {
        CliErrors errors = new CliErrors();
        return new CommandLine(new GatunCli()).setExecutionExceptionHandler(errors)
                .setParameterExceptionHandler(errors);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** The version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = GatunCli.class.getPackage().getImplementationVersion();
            return new String[]{"gatun " + (v == null ? "(development build)" : v)};
        }
    }
}
