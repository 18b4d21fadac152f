package dev.gatun.train.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/** File helpers for reports that other programs (a browser, a dashboard) may read while a job rewrites them. */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** What writes a file's bytes into an open channel. */
    @FunctionalInterface
    public interface ChannelWriter {
        void write(FileChannel channel) throws IOException;
    }

    /** {@link #writeAtomically(Path, ChannelWriter)} of {@code content} as UTF-8. */
    public static void writeAtomically(Path file, String content) {
        ByteBuffer bytes = ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8));
        writeAtomically(file, channel -> {
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        });
    }

    /**
     * Replaces {@code file} with what {@code body} writes, so that readers (and a run after a crash) see the old or the
     * new content, never a partial file: the bytes go to a temporary file in the same directory, are forced to disk,
     * and the temporary file is moved over {@code file} with {@code ATOMIC_MOVE} and {@code REPLACE_EXISTING} (a plain
     * replacing move where the file system has no atomic move). The file is readable by everyone, writable by its
     * owner ({@code rw-r--r--}), as a file created the ordinary way is. Missing parent directories are created.
     *
     * @throws UncheckedIOException if the file cannot be written; no temporary file is left behind
     */
    public static void writeAtomically(Path file, ChannelWriter body) {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path temp = null;
        try {
            Files.createDirectories(dir);
            temp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
            if (Files.getFileStore(temp).supportsFileAttributeView(PosixFileAttributeView.class)) {
                // a temporary file is private (0600); the file it becomes is read like any other output (0644)
                Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-r--r--"));
            }
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                body.write(channel);
                channel.force(true);
            }
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            if (temp != null) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
