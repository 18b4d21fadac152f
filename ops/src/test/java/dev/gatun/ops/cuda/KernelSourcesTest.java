package dev.gatun.ops.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA sources without a GPU: each family, as the loader hands it to NVRTC (includes inlined), compiles with
 * nvcc to PTX for sm_90, and the PTX has exactly the kernels {@link Kernel} names. Skipped where there is no nvcc.
 */
class KernelSourcesTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(");
    private static final Pattern DECLARED = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)\\s*\\(");

    @TempDir
    Path work;

    static Optional<Path> nvcc() {
        return Stream.of(Optional.ofNullable(System.getenv("CUDA_HOME")).map(h -> Path.of(h, "bin", "nvcc")),
                        Optional.of(Path.of("/usr/local/cuda/bin/nvcc")),
                        Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
                                .filter(d -> !d.isEmpty()).map(d -> Path.of(d, "nvcc")).filter(Files::isExecutable)
                                .findFirst())
                .flatMap(Optional::stream).filter(Files::isExecutable).findFirst();
    }

    @ParameterizedTest
    @EnumSource(Kernel.Family.class)
    void eachFamilyCompilesToPtxWithItsKernels(Kernel.Family family) throws Exception {
        Optional<Path> nvcc = nvcc();
        assumeTrue(nvcc.isPresent(), "no nvcc (CUDA_HOME, /usr/local/cuda or PATH): cannot compile the kernels");
        String source = KernelSources.source(family);
        assertFalse(source.contains("#include"), "includes must be inlined for NVRTC");
        Path cu = work.resolve(family.fileName());
        Path ptx = work.resolve(family.name() + ".ptx");
        Files.writeString(cu, source);
        Process p = new ProcessBuilder(nvcc.get().toString(), "-ptx", "-arch=sm_90", "-std=c++17", "-o", ptx.toString(),
                cu.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc did not finish");
        assertEquals(0, p.exitValue(), "nvcc failed on " + family.fileName() + ":\n" + log);
        assertTrue(log.isBlank(), "nvcc warned on " + family.fileName() + ":\n" + log);
        assertEquals(expected(family), matches(ENTRY, Files.readString(ptx)), "kernels in the PTX of " + family);
    }

    @ParameterizedTest
    @EnumSource(Kernel.Family.class)
    void everyDeclaredKernelIsKnownToTheBackend(Kernel.Family family) {
        assertEquals(expected(family), matches(DECLARED, KernelSources.source(family)), family.fileName());
    }

    @Test
    void nvrtcOptionsNameTheDevicesArchitecture() {
        assertEquals("--gpu-architecture=sm_90", CudaKernels.options("sm_90").get(0));
    }

    private static Set<String> expected(Kernel.Family family) {
        return Arrays.stream(Kernel.values()).filter(k -> k.family == family).map(Kernel::symbol)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static Set<String> matches(Pattern pattern, String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }
}
