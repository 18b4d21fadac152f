package dev.gatun.cli;

import dev.gatun.collectives.launch.LaunchResult;
import dev.gatun.collectives.launch.LocalLauncher;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code gatun launch --nproc N -- <command>}: runs {@code gatun <command>} as N local processes with torchrun's
 * variables ({@link LocalLauncher}), each a JVM like this one ({@link JvmCommand}). The ranks' lines come out prefixed
 * {@code [rank i]}. Exit code 0 when every rank exited 0; otherwise one line on stderr names the rank that failed
 * first, and the exit code is that rank's (1 after a timeout).
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = "Run a gatun command as N local processes with torchrun's variables (RANK, WORLD_SIZE, ...).")
final class LaunchCommand implements Callable<Integer> {
    @Option(names = "--nproc", required = true, description = "how many processes (ranks) to start")
    int nproc;

    @Option(names = "--timeout", defaultValue = "10m", converter = DurationConverter.class,
            description = "limit for the whole run; then every rank is stopped (default ${DEFAULT-VALUE})")
    Duration timeout;

    @Option(names = "--grace", defaultValue = "5s", converter = DurationConverter.class,
            description = "time stopped ranks get between SIGTERM and SIGKILL (default ${DEFAULT-VALUE})")
    Duration grace;

    @Parameters(paramLabel = "COMMAND", arity = "0..*",
            description = "the gatun command each rank runs, with its arguments, after --")
    List<String> command = new ArrayList<>();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        PrintWriter err = spec.commandLine().getErr();
        String problem = problem();
        if (problem != null) {
            err.println("gatun launch: " + problem);
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        PrintWriter out = spec.commandLine().getOut();
        LaunchResult result;
        try (PrintStream ranks = new PrintStream(new LineForwarder(out), true, StandardCharsets.UTF_8)) {
            result = new LocalLauncher(nproc, ranks, timeout, grace).launch(JvmCommand.current().running(command));
        }
        if (result.succeeded()) {
            return 0;
        }
        err.println("gatun launch: " + result.summary());
        err.flush();
        return result.firstFailure().map(LaunchResult.RankFailure::exitCode).orElse(1);
    }

    /** What is wrong with the arguments, in one line, or null. */
    private String problem() {
        if (nproc < 1) {
            return "--nproc=" + nproc + " must be >= 1";
        }
        if (!timeout.isPositive() || grace.isNegative()) {
            return "--timeout=" + timeout + " must be positive and --grace=" + grace + " not negative";
        }
        if (command.isEmpty()) {
            return "nothing to run: give a gatun command after --, e.g. gatun launch --nproc 2 -- rendezvous-check";
        }
        var commands = spec.parent().subcommands().keySet();
        if (!commands.contains(command.getFirst())) {
            return "'" + command.getFirst() + "' is not a gatun command; launch runs one of " + commands;
        }
        return null;
    }

    /**
     * Hands each complete line written to it to a {@link PrintWriter}, so the ranks' output goes wherever this
     * command line's output goes. Splitting at {@code '\n'} keeps UTF-8 characters whole.
     */
    private static final class LineForwarder extends OutputStream {
        private final PrintWriter target;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        LineForwarder(PrintWriter target) {
            this.target = target;
        }

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                target.println(line.toString(StandardCharsets.UTF_8));
                target.flush();
                line.reset();
            } else {
                line.write(b);
            }
        }

        @Override
        public synchronized void close() {
            if (line.size() > 0) {
                write('\n');
            }
        }
    }
}
