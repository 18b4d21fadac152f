package dev.gatun.bindings;

import dev.gatun.bindings.raw.cublas.cublas_v2_h;
import dev.gatun.bindings.raw.cuda.cuda_h;
import dev.gatun.bindings.raw.cudart.cuda_runtime_api_h;
import dev.gatun.bindings.raw.nccl.nccl_h;
import dev.gatun.bindings.raw.mpi.mpi_h;
import dev.gatun.bindings.raw.nvrtc.nvrtc_h;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Checks the raw bindings against the real headers: for every symbol in {@code jextract/<lib>.args}, a C++ probe
 * compiled with the headers prints each function's return and parameter kinds and sizes, each constant's value, each
 * typedef's kind and size, and each struct's size and field offsets; the Java side must say the same. A library
 * whose header is not on this machine (cuBLAS, NCCL and NVRTC headers come with their pip wheels or dev packages)
 * is skipped with the reason, as is everything when there is no g++.
 */
class HeaderConformanceTest {
    private record Lib(String key, String header, Class<?> headerClass, NativeLibrary library) {
    }

    private static final List<Lib> LIBS = List.of(
            new Lib("cudart", "cuda_runtime_api.h", cuda_runtime_api_h.class, NativeLibrary.CUDART),
            new Lib("cuda", "cuda.h", cuda_h.class, NativeLibrary.CUDA_DRIVER),
            new Lib("cublas", "cublas_v2.h", cublas_v2_h.class, NativeLibrary.CUBLAS),
            new Lib("nccl", "nccl.h", nccl_h.class, NativeLibrary.NCCL),
            new Lib("nvrtc", "nvrtc.h", nvrtc_h.class, NativeLibrary.NVRTC),
            new Lib("mpi", "mpi.h", mpi_h.class, NativeLibrary.MPI));

    @TempDir
    Path work;

    @TestFactory
    Stream<DynamicTest> rawBindingsMatchTheHeaders() {
        return LIBS.stream().map(lib -> DynamicTest.dynamicTest(lib.key + " (" + lib.header + ")", () -> check(lib)));
    }

    private void check(Lib lib) throws Exception {
        Optional<Path> gxx = executable("g++");
        Assumptions.assumeTrue(gxx.isPresent(), "no g++ on PATH: cannot compile the header probe");
        List<Path> includes = includeDirectories();
        Assumptions.assumeTrue(includes.stream().anyMatch(d -> Files.exists(d.resolve(lib.header))),
                lib.header + " is not in " + includes + ": install the headers (CUDA toolkit, or the pip wheel "
                        + "with include/) to check the " + lib.key + " bindings");
        Argfile args = Argfile.read(Path.of("jextract", lib.key + ".args"));
        if (!NativeLibraries.isLoaded(lib.library) && NativeLibraries.find(lib.library).isEmpty()) {
            List<String> symbols = new ArrayList<>(args.functions);
            symbols.addAll(args.vars);
            loadSymbolStub(gxx.get(), lib, symbols);
        }

        Map<String, String> expected = new LinkedHashMap<>();
        StringBuilder cpp = new StringBuilder("""
                #include <cstdio>
                #include <cstddef>
                #include <type_traits>
                #include <%s>
                template<typename T> void kind() {
                  if constexpr (std::is_void<T>::value) std::printf(" v");
                  else if constexpr (std::is_pointer<T>::value) std::printf(" p%%zu", sizeof(T));
                  else if constexpr (std::is_floating_point<T>::value) std::printf(" f%%zu", sizeof(T));
                  else if constexpr (std::is_integral<T>::value || std::is_enum<T>::value) std::printf(" i%%zu", sizeof(T));
                  else std::printf(" s%%zu", sizeof(T));
                }
                template<typename F> struct Sig;
                template<typename R, typename... A> struct Sig<R(A...)> {
                  static void print(const char* name) { std::printf("function %%s", name); kind<R>(); (kind<A>(), ...); std::printf("\\n"); }
                };
                int main() {
                """.formatted(lib.header));
        for (String fn : args.functions) {
            cpp.append("  Sig<decltype(").append(fn).append(")>::print(\"").append(fn).append("\");\n");
            FunctionDescriptor d = (FunctionDescriptor) lib.headerClass.getMethod(fn + "$descriptor").invoke(null);
            StringBuilder sig = new StringBuilder("function " + fn);
            sig.append(d.returnLayout().map(HeaderConformanceTest::kind).orElse(" v"));
            d.argumentLayouts().forEach(l -> sig.append(kind(l)));
            expected.put("function " + fn, sig.toString());
        }
        for (String c : args.constants) {
            cpp.append("  std::printf(\"constant %s %lld\\n\", \"").append(c).append("\", (long long)(").append(c)
                    .append("));\n");
            expected.put("constant " + c, "constant " + c + " " + lib.headerClass.getMethod(c).invoke(null));
        }
        for (String t : args.typedefs) {
            Optional<Class<?>> struct = structClass(lib, t);
            if (struct.isPresent()) {
                checkStruct(cpp, expected, t, (GroupLayout) struct.get().getMethod("layout").invoke(null));
                continue;
            }
            cpp.append("  std::printf(\"typedef ").append(t).append("\"); kind<").append(t)
                    .append(">(); std::printf(\"\\n\");\n");
            MemoryLayout layout = (MemoryLayout) lib.headerClass.getField(t).get(null);
            expected.put("typedef " + t, "typedef " + t + kind(layout));
        }
        for (String v : args.vars) { // incomplete types (Open MPI's predefined handles): declared, and exported
            cpp.append("  std::printf(\"var %s %zu\\n\", \"").append(v).append("\", sizeof(&").append(v)
                    .append("));\n");
            MemorySegment segment = (MemorySegment) lib.headerClass.getMethod(v + "$segment").invoke(null);
            expected.put("var " + v, "var " + v + " " + (segment.address() != 0 ? ValueLayout.ADDRESS.byteSize() : 0));
        }
        for (String s : args.structs) {
            Class<?> struct = structClass(lib, s).orElseThrow(() -> new AssertionError("no class for struct " + s));
            checkStruct(cpp, expected, s, (GroupLayout) struct.getMethod("layout").invoke(null));
        }
        cpp.append("  return 0;\n}\n");

        Path source = work.resolve(lib.key + "_probe.cpp");
        Path binary = work.resolve(lib.key + "_probe");
        Files.writeString(source, cpp);
        List<String> compile = new ArrayList<>(List.of(gxx.get().toString(), "-std=c++17",
                "-DOMPI_SKIP_MPICXX=1", "-o", binary.toString(), source.toString())); // C headers only, no MPI C++
        includes.forEach(d -> compile.add("-I" + d));
        run(compile, "compiling the header probe for " + lib.key);
        Map<String, String> actual = new LinkedHashMap<>();
        for (String line : run(List.of(binary.toString()), "running the header probe").lines().toList()) {
            String[] f = line.split(" ");
            actual.put(f[0] + " " + f[1], line);
        }
        List<String> mismatches = new ArrayList<>();
        expected.forEach((key, java) -> {
            String header = actual.get(key);
            if (!java.equals(header)) {
                mismatches.add("Java: " + java + "\n    header: " + header);
            }
        });
        assertEquals(List.of(), mismatches, lib.key + " bindings differ from " + lib.header);
    }

    /**
     * Reading a function's descriptor resolves its symbol (jextract keeps both in one holder class). Where the real
     * library is absent, a stub exporting data symbols of the same names stands in: its addresses are never called,
     * because the facades call a library's raw class only once that library is loaded, and a library that failed to
     * load is never searched again in this process.
     */
    private void loadSymbolStub(Path gxx, Lib lib, List<String> functions) throws Exception {
        StringBuilder stub = new StringBuilder("extern \"C\" {\n");
        functions.forEach(fn -> stub.append("char ").append(fn).append(" = 0;\n"));
        Path source = work.resolve(lib.key + "_stub.cpp");
        Path library = work.resolve("lib" + lib.key + "_stub.so");
        Files.writeString(source, stub.append("}\n"));
        run(List.of(gxx.toString(), "-shared", "-fPIC", "-o", library.toString(), source.toString()),
                "compiling the symbol stub for " + lib.key);
        System.load(library.toString());
    }

    private static void checkStruct(StringBuilder cpp, Map<String, String> expected, String name, GroupLayout layout) {
        cpp.append("  std::printf(\"sizeof ").append(name).append(" %zu\\n\", sizeof(").append(name).append("));\n");
        expected.put("sizeof " + name, "sizeof " + name + " " + layout.byteSize());
        for (MemoryLayout member : layout.memberLayouts()) {
            if (member instanceof PaddingLayout) {
                continue;
            }
            String field = member.name().orElseThrow();
            String key = "offsetof " + name + "." + field;
            cpp.append("  std::printf(\"").append(key).append(" %zu\\n\", offsetof(").append(name).append(", ")
                    .append(field).append("));\n");
            expected.put(key, key + " " + layout.byteOffset(MemoryLayout.PathElement.groupElement(field)));
        }
    }

    private static Optional<Class<?>> structClass(Lib lib, String name) {
        try {
            Class<?> c = Class.forName(lib.headerClass.getPackageName() + "." + name);
            c.getMethod("layout");
            return Optional.of(c);
        } catch (ReflectiveOperationException e) {
            return Optional.empty();
        }
    }

    /** The probe's encoding of a Java layout: p8 pointer, i4/i8 integer or enum, f4/f8 floating, s<N> struct. */
    private static String kind(MemoryLayout layout) {
        return switch (layout) {
            case AddressLayout a -> " p" + a.byteSize();
            case ValueLayout.OfFloat f -> " f4";
            case ValueLayout.OfDouble d -> " f8";
            case ValueLayout v -> " i" + v.byteSize();
            default -> " s" + layout.byteSize();
        };
    }

    /** The symbols an argfile includes, by kind. */
    private record Argfile(List<String> functions, List<String> constants, List<String> typedefs, List<String> structs,
                           List<String> vars) {
        static Argfile read(Path file) throws IOException {
            Map<String, List<String>> byOption = new LinkedHashMap<>();
            for (String line : Files.readAllLines(file)) {
                String[] f = line.trim().split("\\s+");
                if (f.length == 2) {
                    byOption.computeIfAbsent(f[0], k -> new ArrayList<>()).add(f[1]);
                }
            }
            return new Argfile(byOption.getOrDefault("--include-function", List.of()),
                    byOption.getOrDefault("--include-constant", List.of()),
                    byOption.getOrDefault("--include-typedef", List.of()),
                    byOption.getOrDefault("--include-struct", List.of()),
                    byOption.getOrDefault("--include-var", List.of()));
        }
    }

    private static List<Path> includeDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        Stream.of(System.getenv("CUDA_HOME"), System.getenv("CUDA_PATH"), "/usr/local/cuda")
                .filter(s -> s != null && !s.isBlank())
                .map(s -> Path.of(s, "include"))
                .forEach(dirs::add);
        LibrarySearch.ofSystem().nvidiaPackages().stream().map(p -> p.resolve("include")).forEach(dirs::add);
        Stream.of(System.getenv("MPI_HOME"), System.getenv("OMPI_HOME")).filter(s -> s != null && !s.isBlank())
                .map(s -> Path.of(s, "include")).forEach(dirs::add);
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu/openmpi/include")); // Debian's libopenmpi-dev
        dirs.add(Path.of("/usr/include/openmpi-x86_64")); // Fedora's openmpi-devel
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    private static Optional<Path> executable(String name) {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .map(d -> Path.of(d, name)).filter(Files::isExecutable).findFirst();
    }

    private static String run(List<String> command, String what) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(what + " failed:\n" + String.join(" ", command) + "\n" + out);
        }
        return out;
    }
}
