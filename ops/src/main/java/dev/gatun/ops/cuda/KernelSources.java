package dev.gatun.ops.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CUDA C sources of the kernel families, read from the class path with their local {@code #include "x.cuh"}
 * lines replaced by the included file (once each), so that NVRTC compiles one self-contained string.
 */
final class KernelSources {
    static final String RESOURCE_DIR = "/dev/gatun/ops/cuda/";
    private static final Pattern INCLUDE = Pattern.compile("(?m)^\\s*#include\\s+\"([\\w.]+)\"\\s*$");
    private static final Pattern PRAGMA_ONCE = Pattern.compile("(?m)^\\s*#pragma\\s+once\\s*$");

    private KernelSources() {
    }

    /** The self-contained source of {@code family}. */
    static String source(Kernel.Family family) {
        return inline(family.fileName(), new HashSet<>());
    }

    private static String inline(String file, Set<String> seen) {
        String text = PRAGMA_ONCE.matcher(read(file)).replaceAll("");
        Matcher m = INCLUDE.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String included = m.group(1);
            String replacement = seen.add(included) ? inline(included, seen) : "";
            m.appendReplacement(out, Matcher.quoteReplacement("// ---- " + included + " ----\n" + replacement));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String read(String file) {
        try (InputStream in = KernelSources.class.getResourceAsStream(RESOURCE_DIR + file)) {
            if (in == null) {
                throw new IllegalStateException("CUDA source " + RESOURCE_DIR + file + " is not on the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading CUDA source " + file, e);
        }
    }
}
