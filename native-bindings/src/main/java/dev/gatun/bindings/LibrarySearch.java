package dev.gatun.bindings;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Finds and loads one native library, in this order (DESIGN.md property 2):
 * <ol>
 *   <li>an explicit override, {@code -Dgatun.library.<key>} then {@code GATUN_LIBRARY_<KEY>}: a file, or a directory
 *       holding one of the sonames; when set, nothing else is tried;</li>
 *   <li>the OS loader by soname (LD_LIBRARY_PATH, the ld.so cache, the system directories);</li>
 *   <li>{@code $CUDA_HOME}, {@code $CUDA_PATH} and {@code /usr/local/cuda} ({@code lib64},
 *       {@code targets/x86_64-linux/lib}, {@code lib}), and the driver's usual directories;</li>
 *   <li>Python site-packages {@code nvidia/*}{@code /lib} folders (pip wheels such as nvidia-cublas), under
 *       {@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, {@code $PYTHONPATH}, {@code ~/.local}, {@code /usr/local},
 *       {@code /usr} and {@code /opt};</li>
 *   <li>for MPI, instead of the last two: the MPI install prefixes ({@code $MPI_HOME}, Debian's and Fedora's
 *       openmpi folders, {@code /opt/openmpi}).</li>
 * </ol>
 * A successful load goes through {@link System#load}, so the raw bindings (which look symbols up with
 * {@link SymbolLookup#loaderLookup()}, as jextract emits them) see it. The environment and system properties are
 * injected so that tests can describe other machines.
 */
public final class LibrarySearch {
    private final UnaryOperator<String> environment;
    private final UnaryOperator<String> properties;

    /**
     * @param environment reads an environment variable (null when unset)
     * @param properties  reads a system property (null when unset)
     */
    public LibrarySearch(UnaryOperator<String> environment, UnaryOperator<String> properties) {
        this.environment = environment;
        this.properties = properties;
    }

    /** The search over this process's environment and system properties. */
    public static LibrarySearch ofSystem() {
        return new LibrarySearch(System::getenv, System::getProperty);
    }

    /**
     * Loads the library or throws, listing every place tried.
     *
     * @throws LibraryNotFoundException when no candidate loads
     */
    public LoadedLibrary load(NativeLibrary library) {
        List<String> attempts = new ArrayList<>();
        String override = nonBlank(properties.apply(library.overrideProperty()))
                .or(() -> nonBlank(environment.apply(library.overrideEnvironmentVariable())))
                .orElse(null);
        if (override != null) {
            String how = "override " + (nonBlank(properties.apply(library.overrideProperty())).isPresent()
                    ? "-D" + library.overrideProperty() : library.overrideEnvironmentVariable()) + "=" + override;
            Path path = Path.of(override);
            List<Path> files = Files.isDirectory(path)
                    ? library.sonames().stream().map(path::resolve).toList() : List.of(path);
            return loadFirst(library, files, how, attempts)
                    .orElseThrow(() -> new LibraryNotFoundException(library, attempts));
        }
        Optional<LoadedLibrary> found = loadWithOsLoader(library, attempts);
        if (library == NativeLibrary.MPI) {
            return found.or(() -> loadFromDirectories(library, "MPI install prefixes", mpiDirectories(), attempts))
                    .orElseThrow(() -> new LibraryNotFoundException(library, attempts));
        }
        if (found.isEmpty()) {
            found = loadFromDirectories(library, "CUDA toolkit / driver directories", toolkitDirectories(), attempts);
        }
        if (found.isEmpty()) {
            found = loadFromDirectories(library, "Python site-packages", sitePackagesDirectories(), attempts);
        }
        return found.orElseThrow(() -> new LibraryNotFoundException(library, attempts));
    }

    private Optional<LoadedLibrary> loadWithOsLoader(NativeLibrary library, List<String> attempts) {
        String ldPath = Optional.ofNullable(environment.apply("LD_LIBRARY_PATH")).orElse("");
        for (String soname : library.sonames()) {
            SymbolLookup lookup;
            try {
                lookup = SymbolLookup.libraryLookup(soname, Arena.global());
            } catch (IllegalArgumentException e) {
                attempts.add("OS loader (LD_LIBRARY_PATH=" + ldPath + ", ld.so cache, system directories): "
                        + soname + " not found");
                continue;
            }
            Optional<Path> file = lookup.find(library.probeSymbol()).flatMap(LibrarySearch::fileMapping);
            if (file.isEmpty()) {
                attempts.add("OS loader: " + soname + " opened, but it has no symbol " + library.probeSymbol()
                        + " or its file is not in /proc/self/maps");
                continue;
            }
            Optional<LoadedLibrary> loaded = loadFirst(library, file.stream().toList(), "OS loader (" + soname + ")",
                    attempts);
            if (loaded.isPresent()) {
                return loaded;
            }
        }
        return Optional.empty();
    }

    private Optional<LoadedLibrary> loadFromDirectories(NativeLibrary library, String what, List<Path> directories,
                                                        List<String> attempts) {
        List<Path> files = new ArrayList<>();
        for (Path dir : directories) {
            for (String soname : library.sonames()) {
                Path file = dir.resolve(soname);
                if (Files.exists(file)) {
                    files.add(file);
                }
            }
        }
        if (directories.isEmpty()) {
            attempts.add(what + ": no folder to search (no nvidia/*/lib folder under any site-packages)");
            return Optional.empty();
        }
        if (files.isEmpty()) {
            attempts.add(what + ": none of " + directories + " holds " + String.join(" or ", library.sonames()));
            return Optional.empty();
        }
        return loadFirst(library, files, what, attempts);
    }

    private static Optional<LoadedLibrary> loadFirst(NativeLibrary library, List<Path> files, String how,
                                                     List<String> attempts) {
        for (Path file : files) {
            if (!Files.exists(file)) {
                attempts.add(how + ": " + file + ": no such file");
                continue;
            }
            Path absolute = file.toAbsolutePath().normalize();
            try {
                System.load(absolute.toString());
                return Optional.of(new LoadedLibrary(library, absolute, how));
            } catch (UnsatisfiedLinkError e) {
                attempts.add(how + ": " + absolute + ": " + e.getMessage());
            }
        }
        return Optional.empty();
    }

    /** Directories of the CUDA toolkit and of the driver, in search order, without duplicates. */
    List<Path> toolkitDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        Stream.of(environment.apply("CUDA_HOME"), environment.apply("CUDA_PATH"), "/usr/local/cuda")
                .flatMap(s -> nonBlank(s).stream())
                .map(Path::of)
                .forEach(root -> {
                    dirs.add(root.resolve("lib64"));
                    dirs.add(root.resolve("targets/x86_64-linux/lib"));
                    dirs.add(root.resolve("lib"));
                });
        Stream.of("/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib")
                .map(Path::of).forEach(dirs::add);
        return List.copyOf(dirs);
    }

    /**
     * Where MPI installations keep {@code libmpi}: {@code $MPI_HOME}, {@code $OMPI_HOME} and {@code $I_MPI_ROOT}
     * ({@code lib}, {@code lib64}), then Debian's, Fedora's and the usual hand-built prefixes.
     */
    List<Path> mpiDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        Stream.of(environment.apply("MPI_HOME"), environment.apply("OMPI_HOME"), environment.apply("I_MPI_ROOT"))
                .flatMap(s -> nonBlank(s).stream()).map(Path::of).forEach(root -> {
                    dirs.add(root.resolve("lib"));
                    dirs.add(root.resolve("lib64"));
                });
        Stream.of("/usr/lib/x86_64-linux-gnu/openmpi/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64/openmpi/lib",
                "/opt/openmpi/lib", "/usr/local/lib").map(Path::of).forEach(dirs::add);
        return List.copyOf(dirs);
    }

    /** {@code nvidia/*}{@code /lib} folders of the Python installations this machine seems to have. */
    List<Path> sitePackagesDirectories() {
        return nvidiaPackages().stream().map(pkg -> pkg.resolve("lib")).filter(Files::isDirectory).toList();
    }

    /**
     * The {@code nvidia/*} package folders (pip wheels such as nvidia-cublas, nvidia-nccl-cu13) under the
     * site-packages of {@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, {@code ~/.local}, {@code /usr/local},
     * {@code /usr}, {@code /opt/*} and {@code /opt/*}{@code /.venv}, and the entries of {@code $PYTHONPATH}.
     */
    public List<Path> nvidiaPackages() {
        Set<Path> sitePackages = new LinkedHashSet<>();
        List<Path> roots = new ArrayList<>();
        Stream.of(environment.apply("VIRTUAL_ENV"), environment.apply("CONDA_PREFIX"))
                .flatMap(s -> nonBlank(s).stream()).map(Path::of).forEach(roots::add);
        nonBlank(environment.apply("HOME")).ifPresent(home -> roots.add(Path.of(home, ".local")));
        roots.add(Path.of("/usr/local"));
        roots.add(Path.of("/usr"));
        for (Path opt : children(Path.of("/opt"))) {
            roots.add(opt);
            roots.add(opt.resolve(".venv"));
        }
        for (Path root : roots) {
            for (Path python : children(root.resolve("lib"))) {
                if (python.getFileName().toString().startsWith("python3")) {
                    sitePackages.add(python.resolve("site-packages"));
                    sitePackages.add(python.resolve("dist-packages"));
                }
            }
        }
        nonBlank(environment.apply("PYTHONPATH")).ifPresent(pp -> {
            for (String entry : pp.split(":")) {
                nonBlank(entry).map(Path::of).ifPresent(sitePackages::add);
            }
        });
        List<Path> packages = new ArrayList<>();
        for (Path site : sitePackages) {
            packages.addAll(children(site.resolve("nvidia")));
        }
        return packages;
    }

    private static List<Path> children(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            List<Path> out = new ArrayList<>();
            stream.forEach(out::add);
            out.sort(null);
            return out;
        } catch (IOException e) {
            return List.of();
        }
    }

    /** The file mapped at the given address, read from /proc/self/maps. */
    static Optional<Path> fileMapping(MemorySegment symbol) {
        long address = symbol.address();
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.map(line -> line.split("\\s+", 6))
                    .filter(f -> f.length == 6 && f[5].startsWith("/"))
                    .filter(f -> {
                        String[] range = f[0].split("-");
                        return Long.compareUnsigned(address, Long.parseUnsignedLong(range[0], 16)) >= 0
                                && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0;
                    })
                    .map(f -> Path.of(f[5].trim()))
                    .findFirst();
        } catch (IOException | UncheckedIOException e) {
            return Optional.empty();
        }
    }

    private static Optional<String> nonBlank(String s) {
        return s == null || s.isBlank() ? Optional.empty() : Optional.of(s.trim());
    }
}
