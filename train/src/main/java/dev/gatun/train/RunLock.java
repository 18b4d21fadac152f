package dev.gatun.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Optional;

/**
 * A run's hold on its output folder, for the run's life: the file {@value #FILE_NAME} in the folder, created
 * atomically, holding the owner's pid, host and start time, and removed by {@link #close()}. A second run on the same
 * folder fails at once naming the owner. A lock left by a process of this host that no longer runs is stale: it is
 * taken over, and {@link #replacedStaleOwner()} says whose it was. A lock of another host cannot be checked and is
 * respected.
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE_NAME = ".gatun.lock";

    private final Path file;
    private final String content;
    private final String replacedStaleOwner;

    private RunLock(Path file, String content, String replacedStaleOwner) {
        this.file = file;
        this.content = content;
        this.replacedStaleOwner = replacedStaleOwner;
    }

    /**
     * Takes the lock of {@code folder} (which must exist).
     *
     * @throws IllegalStateException when another live run holds it, naming that run's pid, host and start
     */
    public static RunLock acquire(Path folder) {
        Path file = folder.resolve(FILE_NAME);
        long pid = ProcessHandle.current().pid();
        String host = hostName();
        String content = "pid " + pid + "\nhost " + host + "\nsince " + Instant.now() + "\n";
        String stale = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                Files.writeString(file, content, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE);
                return new RunLock(file, content, stale);
            } catch (FileAlreadyExistsException e) {
                Owner owner = Owner.read(file);
                if (owner == null) {
                    continue; // removed meanwhile: try again
                }
                if (owner.host().equals(host)
                        && !ProcessHandle.of(owner.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                    try {
                        Files.deleteIfExists(file);
                    } catch (IOException removing) {
                        throw new UncheckedIOException("cannot remove the stale lock " + file, removing);
                    }
                    stale = owner.describe();
                    continue;
                }
                throw new IllegalStateException(folder + " is in use by another run: " + owner.describe() + " (lock "
                        + file + "); wait for it to end or choose another --out"
                        + (owner.host().equals(host) ? "" : "; if that process is gone, delete the lock"));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create the lock " + file + ": " + e.getMessage(), e);
            }
        }
        throw new IllegalStateException("could not take the lock " + file + " (it keeps changing)");
    }

    /** The owner of the stale lock this one replaced, e.g. "pid 41 on host a since ...", if any. */
    public Optional<String> replacedStaleOwner() {
        return Optional.ofNullable(replacedStaleOwner);
    }

    /** Removes the lock, if it is still this one's. */
    @Override
    public void close() {
        try {
            if (content.equals(Files.readString(file, StandardCharsets.UTF_8))) {
                Files.delete(file);
            }
        } catch (NoSuchFileException gone) {
            // someone removed it: nothing to release
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the lock " + file, e);
        }
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }

    /** What a lock file says of its owner. */
    private record Owner(long pid, String host, String since) {
        /** The owner, or null when the file is gone; an unreadable file is an owner of pid 0 on no host. */
        static Owner read(Path file) {
            String text;
            try {
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                return null;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the lock " + file, e);
            }
            long pid = 0;
            String host = "";
            String since = "?";
            for (String line : text.split("\n")) {
                if (line.startsWith("pid ")) {
                    try {
                        pid = Long.parseLong(line.substring(4).strip());
                    } catch (NumberFormatException e) {
                        pid = 0;
                    }
                } else if (line.startsWith("host ")) {
                    host = line.substring(5).strip();
                } else if (line.startsWith("since ")) {
                    since = line.substring(6).strip();
                }
            }
            return new Owner(pid, host, since);
        }

        String describe() {
            return "pid " + pid + " on host " + (host.isEmpty() ? "(unknown)" : host) + " since " + since;
        }
    }
}
