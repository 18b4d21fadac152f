package dev.gatun.bindings;

import java.util.List;

/**
 * A native library could not be loaded. The message lists every place tried, in order, with the loader's answer
 * for each, and how to point Gatun at the library.
 */
public final class LibraryNotFoundException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final NativeLibrary library;
    private final List<String> attempts;

    LibraryNotFoundException(NativeLibrary library, List<String> attempts) {
        super(message(library, attempts));
        this.library = library;
        this.attempts = List.copyOf(attempts);
    }

    private static String message(NativeLibrary library, List<String> attempts) {
        var sb = new StringBuilder()
                .append(library.displayName()).append(" (").append(String.join(" or ", library.sonames()))
                .append(") could not be loaded. Tried, in order:");
        for (String attempt : attempts) {
            sb.append("\n  - ").append(attempt);
        }
        return sb.append("\nSet -D").append(library.overrideProperty()).append("=PATH or ")
                .append(library.overrideEnvironmentVariable())
                .append("=PATH (the file, or a directory holding it), or add its directory to LD_LIBRARY_PATH.")
                .toString();
    }

    /** The library that was looked for. */
    public NativeLibrary library() {
        return library;
    }

    /** Each place tried, with the loader's message. */
    public List<String> attempts() {
        return attempts;
    }
}
