package dev.gatun.cli;

import dev.gatun.bindings.GpuException;
import dev.gatun.bindings.LibraryNotFoundException;
import dev.gatun.collectives.CollectiveException;
import dev.gatun.collectives.launch.RendezvousException;
import dev.gatun.memory.DeviceOutOfMemoryException;
import dev.gatun.memory.MemoryLeakException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.time.Instant;

/**
 * How every {@code gatun} command ends when it fails, so that no stack trace reaches a user:
 * <ol>
 *   <li>a command line that does not parse: one line with picocli's reason and where the options are listed, exit 2;</li>
 *   <li>an expected failure, found anywhere in the exception's cause chain (bad input first): one line
 *       {@code gatun <command>: <what>}, exit 2 for bad input ({@link IllegalArgumentException}, a file that is missing, unreadable or not what it
 *       should be) and 1 for a failure during the run (a collective, the rendezvous, a GPU library, memory);</li>
 *   <li>anything else is a bug: one line naming the exception and the file its full trace was written to, exit 1.</li>
 * </ol>
 */
final class CliErrors implements IExecutionExceptionHandler, IParameterExceptionHandler {
    static final int BAD_INPUT = 2;
    static final int FAILED = 1;

    @Override
    public int handleParseException(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        String name = cmd.getCommandSpec().qualifiedName(" ");
        PrintWriter err = cmd.getErr();
        err.println(name + ": " + oneLine(e.getMessage()) + " (" + name + " --help lists the options)");
        err.flush();
        return BAD_INPUT;
    }

    @Override
    public int handleExecutionException(Exception e, CommandLine cmd, ParseResult parsed) {
        String name = cmd.getCommandSpec().qualifiedName(" ");
        PrintWriter err = cmd.getErr();
        int code;
        Throwable expected = expected(e);
        if (expected != null) {
            code = isBadInput(expected) ? BAD_INPUT : FAILED;
            err.println(name + ": " + describe(expected));
        } else {
            code = FAILED;
            err.println(name + ": unexpected " + e.getClass().getName() + (e.getMessage() == null ? ""
                    : ": " + oneLine(e.getMessage())) + " (a bug; " + writeTrace(e, parsed) + ")");
        }
        err.flush();
        return code;
    }

    /**
     * The expected failure of a cause chain, or null: bad input anywhere in the chain (a rank that failed on a bad
     * checkpoint failed because of the checkpoint), else the first failure during the run.
     */
    static Throwable expected(Throwable e) {
        Throwable runFailure = null;
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (isBadInput(t)) {
                return t;
            }
            if (runFailure == null && isRunFailure(t)) {
                runFailure = t;
            }
        }
        return runFailure;
    }

    private static boolean isBadInput(Throwable t) {
        return t instanceof IllegalArgumentException || t instanceof IOException
                || t instanceof UncheckedIOException;
    }

    private static boolean isRunFailure(Throwable t) {
        return t instanceof CollectiveException || t instanceof RendezvousException || t instanceof GpuException
                || t instanceof LibraryNotFoundException || t instanceof DeviceOutOfMemoryException
                || t instanceof MemoryLeakException || t instanceof OutOfMemoryError
                || t instanceof IllegalStateException || t instanceof InterruptedException;
    }

    /** One line for an expected failure: its message, with the file system's reason in words. */
    static String describe(Throwable t) {
        if (t instanceof UncheckedIOException u && u.getCause() != null) {
            String cause = describe(u.getCause());
            return u.getMessage() == null || u.getMessage().contains(cause) ? cause
                    : oneLine(u.getMessage()) + " (" + cause + ")";
        }
        String message = t.getMessage() == null ? "" : oneLine(t.getMessage());
        return switch (t) {
            case NoSuchFileException e -> "no such file or directory: " + message;
            case AccessDeniedException e -> "permission denied: " + message;
            case FileAlreadyExistsException e -> "already exists: " + message;
            case NotDirectoryException e -> "not a directory: " + message;
            case OutOfMemoryError e -> "out of memory (" + message + "): use a smaller model, batch or more ranks, "
                    + "or give the JVM more memory (GATUN_JAVA_OPTS=-Xmx...)";
            case IOException e -> message.isEmpty() ? e.getClass().getSimpleName() : message;
            default -> message.isEmpty() ? t.getClass().getSimpleName() : message;
        };
    }

    private static String oneLine(String message) {
        return message.strip().replaceAll("\\s*\\R\\s*", "; ");
    }

    /** Writes the full trace to a file and says where, or says why it could not. */
    private static String writeTrace(Exception e, ParseResult parsed) {
        StringWriter trace = new StringWriter();
        PrintWriter w = new PrintWriter(trace);
        w.println("gatun " + String.join(" ", parsed == null ? java.util.List.of() : parsed.originalArgs()));
        w.println("at " + Instant.now() + ", Java " + Runtime.version());
        e.printStackTrace(w);
        w.flush();
        try {
            Path file = Files.createTempFile("gatun-error-", ".txt");
            Files.writeString(file, trace.toString());
            return "the full trace is in " + file;
        } catch (IOException | RuntimeException writing) {
            return "its trace could not be written: " + writing.getMessage();
        }
    }
}
