package dev.gatun.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of the paths a run will write, made before its first step so that a bad one fails in a second with the
 * option to change, not after the whole run: the folder exists or can be created, and a file can be created in it.
 */
final class OutputPaths {
    private OutputPaths() {
    }

    /** {@code option}'s folder: created when missing, and writable. */
    static void checkFolder(String option, Path folder) {
        if (folder.toString().isBlank()) {
            throw new IllegalArgumentException(option + " is empty: name a folder");
        }
        if (Files.exists(folder) && !Files.isDirectory(folder)) {
            throw new IllegalArgumentException(option + " " + folder + " is a file, not a folder: name a folder");
        }
        try {
            Files.createDirectories(folder);
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + folder + " cannot be created (" + reason(e)
                    + "): name a folder you can write");
        }
        try {
            Files.delete(Files.createTempFile(folder, ".gatun-write-check", ".tmp"));
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + folder + " is not writable (" + reason(e)
                    + "): name a folder you can write");
        }
    }

    /** {@code option}'s file: not a folder, in a writable folder (created when missing). */
    static void checkFile(String option, Path file) {
        if (file.toString().isBlank()) {
            throw new IllegalArgumentException(option + " is empty: name a file");
        }
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(option + " " + file + " is a folder: name the file to write, e.g. "
                    + file.resolve("model.safetensors"));
        }
        Path parent = file.toAbsolutePath().getParent();
        checkFolder(option + "'s folder", parent);
    }

    private static String reason(IOException e) {
        return e.getClass().getSimpleName().replace("Exception", "") + (e.getMessage() == null ? ""
                : ": " + e.getMessage());
    }
}
