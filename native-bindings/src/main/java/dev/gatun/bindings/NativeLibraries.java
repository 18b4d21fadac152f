package dev.gatun.bindings;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The libraries loaded into this process. Loading is process-wide by nature (dlopen), so this is the one place that
 * remembers it: each library is searched once ({@link LibrarySearch#ofSystem()}), and the outcome, the loaded file
 * or the failure with every place tried, is kept. Nothing here throws at class initialisation.
 */
public final class NativeLibraries {
    private static final Map<NativeLibrary, Outcome> OUTCOMES = new ConcurrentHashMap<>();

    private record Outcome(LoadedLibrary loaded, LibraryNotFoundException failure) {
    }

    private NativeLibraries() {
    }

    /**
     * Loads the library on first use and returns it.
     *
     * @throws LibraryNotFoundException listing every place tried, when it cannot be loaded
     */
    public static LoadedLibrary require(NativeLibrary library) {
        Outcome outcome = outcome(library);
        if (outcome.failure != null) {
            throw outcome.failure;
        }
        return outcome.loaded;
    }

    /** The loaded library, or empty when it cannot be loaded (see {@link #failure}). */
    public static Optional<LoadedLibrary> find(NativeLibrary library) {
        return Optional.ofNullable(outcome(library).loaded);
    }

    /** Why the library cannot be loaded, or empty when it is loaded. */
    public static Optional<LibraryNotFoundException> failure(NativeLibrary library) {
        return Optional.ofNullable(outcome(library).failure);
    }

    /** Whether the library is loaded (searching for it on first call). */
    public static boolean isLoaded(NativeLibrary library) {
        return outcome(library).loaded != null;
    }

    private static Outcome outcome(NativeLibrary library) {
        return OUTCOMES.computeIfAbsent(library, lib -> {
            try {
                return new Outcome(LibrarySearch.ofSystem().load(lib), null);
            } catch (LibraryNotFoundException e) {
                return new Outcome(null, e);
            }
        });
    }
}
