package dev.gatun.e2e;

import dev.gatun.cli.GatunCli;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs a {@code gatun} command line in this JVM, as {@code gatun} itself would, capturing what it prints. */
public final class Cli {
    /** How a command exited and what it printed on each stream. */
    public record Run(int exit, String out, String err) {
    }

    private Cli() {
    }

    /** Runs {@code gatun args}. */
    public static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }
}
