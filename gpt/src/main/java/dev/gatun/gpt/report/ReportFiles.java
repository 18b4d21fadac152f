package dev.gatun.gpt.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** File helpers for reports that other programs (a browser, a dashboard) may read while a job rewrites them. */
public final class ReportFiles {
    private ReportFiles() {
    }

    /**
     * Replaces {@code file} with {@code content} (UTF-8) so that readers see the old or the new content, never a
     * partial file: the content goes to a temporary file in the same directory, which is then moved over
     * {@code file} with {@code ATOMIC_MOVE} and {@code REPLACE_EXISTING} (a plain replacing move where the file
     * system has no atomic move). Missing parent directories are created.
     *
     * @throws UncheckedIOException if the file cannot be written; no temporary file is left behind
     */
    public static void writeAtomically(Path file, String content) {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path temp = null;
        try {
            Files.createDirectories(dir);
            temp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
            Files.writeString(temp, content, StandardCharsets.UTF_8);
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
            throw new UncheckedIOException("cannot write report file " + file + ": " + e.getMessage(), e);
        }
    }
}
