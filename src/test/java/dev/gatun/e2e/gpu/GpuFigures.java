package dev.gatun.e2e.gpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.gatun.e2e.gpu.GpuCheckStep.Figures;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads the figures of the GPU check steps from what their commands printed (the formats of {@code gatun info},
 * {@code gatun train}, {@code gatun bench kernels}) and wrote (JUnit's XML report, JMH's JSON result, the trainer's
 * {@code metrics.jsonl}). Each reader is tested on the real output of the same command on the CPU where it can run
 * there.
 */
final class GpuFigures {
    /** Relative difference allowed between the first-step losses on the GPU and on one CPU rank (bf16 operands). */
    static final double FIRST_LOSS_TOLERANCE = 1e-3;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LIBRARY = Pattern.compile(
            "(?m)^  (CUDA runtime|CUDA driver|cuBLAS|NCCL|NVRTC)\\s+(\\S+)\\s+version (.+?)\\s+\\(found by");
    private static final Pattern MISSING = Pattern.compile("(?m)^  (CUDA runtime|CUDA driver|cuBLAS|NCCL|NVRTC)\\s+not found");
    private static final Pattern DEVICE = Pattern.compile("(?m)^  \\[(\\d+)] (.+), ([0-9.]+) GiB, compute capability "
            + "([0-9.]+), (\\d+) SMs$");
    private static final Pattern KERNELS = Pattern.compile("total (\\d+) families in ([0-9.]+) ms \\((\\d+) compiled "
            + "by NVRTC, (\\d+) from the disk cache\\)");
    private static final Pattern TORCH = Pattern.compile("torch\\.matmul bf16 (\\d+)\\^3: ([0-9.]+) ms");
    private static final Pattern PEAK = Pattern.compile("peak +rank (\\d+): ([0-9.]+) MiB in use at most .*?, "
            + "([0-9.]+) MiB reserved");
    private static final Pattern SPEED = Pattern.compile("speed +([0-9,.]+) tokens/s[^\\n]*?(?:MFU ([0-9.]+)%|$)",
            Pattern.MULTILINE);
    private static final Pattern LOSS = Pattern.compile("loss +([0-9.]+) -> ([0-9.]+) over (\\d+) steps");

    private GpuFigures() {
    }

    /** {@code nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader}, then {@code gatun info}. */
    static Figures probe(List<String> outputs) {
        Map<String, Object> values = new LinkedHashMap<>();
        List<String> gpus = outputs.isEmpty() ? List.of()
                : outputs.get(0).lines().filter(l -> l.split(",").length == 3).toList();
        values.put("gpus", gpus.size());
        if (!gpus.isEmpty()) {
            String[] first = gpus.getFirst().split(",");
            values.put("gpu", first[0].strip());
            values.put("gpu_memory", first[1].strip());
            values.put("driver", first[2].strip());
        }
        List<String> failures = new ArrayList<>();
        if (outputs.size() > 1) {
            Map<String, Object> libraries = new LinkedHashMap<>();
            Matcher m = LIBRARY.matcher(outputs.get(1));
            while (m.find()) {
                libraries.put(m.group(1), Map.of("version", m.group(3), "path", m.group(2)));
            }
            Matcher missing = MISSING.matcher(outputs.get(1));
            while (missing.find()) {
                libraries.put(missing.group(1), "not found");
                failures.add(missing.group(1) + " not found");
            }
            values.put("libraries", libraries);
            List<Map<String, Object>> devices = new ArrayList<>();
            Matcher d = DEVICE.matcher(outputs.get(1));
            while (d.find()) {
                devices.add(Map.of("ordinal", Integer.parseInt(d.group(1)), "name", d.group(2),
                        "memory_gib", Double.parseDouble(d.group(3)), "compute_capability", d.group(4),
                        "sms", Integer.parseInt(d.group(5))));
            }
            values.put("cuda_devices", devices);
            if (devices.isEmpty()) {
                failures.add("gatun info lists no CUDA device");
            }
        }
        return new Figures(values, failures);
    }

    /** JUnit's XML report ({@code TEST-*.xml}) under {@code reports}: counts, and the failed tests by name. */
    static Figures junit(Path reports) throws Exception {
        int tests = 0;
        int skipped = 0;
        int failed = 0;
        List<String> failedNames = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> list = Files.isDirectory(reports) ? Files.list(reports) : Stream.empty()) {
            files = list.filter(p -> p.getFileName().toString().matches("TEST-.*\\.xml")).sorted().toList();
        }
        for (Path file : files) {
            var factory = DocumentBuilderFactory.newInstance();
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            Element suite = factory.newDocumentBuilder().parse(file.toFile()).getDocumentElement();
            tests += Integer.parseInt(suite.getAttribute("tests"));
            skipped += Integer.parseInt(suite.getAttribute("skipped"));
            NodeList cases = suite.getElementsByTagName("testcase");
            for (int i = 0; i < cases.getLength(); i++) {
                Element c = (Element) cases.item(i);
                if (c.getElementsByTagName("failure").getLength() + c.getElementsByTagName("error").getLength() > 0) {
                    failed++;
                    failedNames.add(c.getAttribute("classname") + "." + c.getAttribute("name"));
                }
            }
        }
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("tests", tests);
        values.put("passed", tests - skipped - failed);
        values.put("failed", failed);
        values.put("skipped", skipped);
        values.put("failed_tests", failedNames);
        List<String> failures = files.isEmpty() ? List.of("no JUnit report under " + reports)
                : failedNames.stream().map(n -> "failed: " + n).toList();
        return new Figures(values, failures);
    }

    /** Two runs of {@code gatun bench kernels} on one cache directory: cold (NVRTC), then from the disk cache. */
    static Figures nvrtc(List<String> outputs) {
        Map<String, Object> values = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        String[] names = {"cold", "disk_cache"};
        for (int i = 0; i < Math.min(2, outputs.size()); i++) {
            Matcher m = KERNELS.matcher(outputs.get(i));
            if (!m.find()) {
                failures.add(names[i] + ": no 'total ... families' line");
                continue;
            }
            values.put(names[i] + "_ms", Double.parseDouble(m.group(2)));
            values.put(names[i] + "_families", Integer.parseInt(m.group(1)));
            values.put(names[i] + "_compiled", Integer.parseInt(m.group(3)));
            values.put(names[i] + "_read_from_disk", Integer.parseInt(m.group(4)));
            int expected = Integer.parseInt(m.group(i == 0 ? 3 : 4));
            if (expected != Integer.parseInt(m.group(1))) {
                failures.add(names[i] + ": " + expected + " of " + m.group(1) + " families "
                        + (i == 0 ? "compiled" : "read from the disk cache"));
            }
        }
        return new Figures(values, failures);
    }

    /**
     * {@code torch.matmul} (the torch script's line) against JMH's result for the cuBLAS GEMM issued from Java: both
     * as milliseconds per GEMM and TFLOP/s = 2n³ / t, and Gatun's throughput as a fraction of torch's.
     */
    static Figures gemm(List<String> outputs, Path jmhResult) throws IOException {
        Map<String, Object> values = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        Matcher torch = outputs.isEmpty() ? null : TORCH.matcher(outputs.get(0));
        double torchMs = Double.NaN;
        int n = 0;
        if (torch != null && torch.find()) {
            n = Integer.parseInt(torch.group(1));
            torchMs = Double.parseDouble(torch.group(2));
            values.put("n", n);
            values.put("torch_ms", torchMs);
            values.put("torch_tflops", round(2.0 * n * n * n / torchMs / 1e9));
        } else {
            failures.add("no torch.matmul line");
        }
        if (Files.isRegularFile(jmhResult)) {
            JsonNode first = JSON.readTree(jmhResult.toFile()).get(0);
            double javaMs = first.get("primaryMetric").get("score").asDouble();
            int size = Integer.parseInt(first.get("params").get("n").asText());
            values.put("gatun_ms", javaMs);
            values.put("gatun_tflops", round(2.0 * size * size * size / javaMs / 1e9));
            if (n == size) {
                values.put("gatun_over_torch", round(torchMs / javaMs));
            }
        } else {
            failures.add("no JMH result " + jmhResult);
        }
        return new Figures(values, failures);
    }

    /** JMH's result for {@code CachingAllocatorBenchmark}: microseconds per allocate + free, by size and method. */
    static Figures allocator(Path jmhResult) throws IOException {
        if (!Files.isRegularFile(jmhResult)) {
            return new Figures(Map.of(), List.of("no JMH result " + jmhResult));
        }
        Map<String, Map<String, Object>> bySize = new LinkedHashMap<>();
        for (JsonNode r : JSON.readTree(jmhResult.toFile())) {
            String method = r.get("benchmark").asText().replaceAll(".*\\.", "");
            String bytes = r.get("params").get("bytes").asText();
            bySize.computeIfAbsent(bytes, b -> new LinkedHashMap<>()).put(method + "_us",
                    r.get("primaryMetric").get("score").asDouble());
        }
        bySize.values().forEach(m -> {
            if (m.get("cachedAllocFree_us") instanceof Double cached && m.get("cudaMallocFree_us") instanceof Double raw) {
                m.put("cudamalloc_over_cached", round(raw / cached));
            }
        });
        return Figures.of(Map.of("bytes", bySize));
    }

    /**
     * The GPT-2 runs: the CUDA run's and the CPU run's {@code metrics.jsonl} (the first step's loss, which depends
     * only on the weights and the batch), the CUDA run's tokens/s and MFU over the steps from {@code steadyFrom}, and
     * its summary's peak memory line.
     */
    static Figures gpt2(List<String> outputs, Path cudaRun, Path cpuRun, int steadyFrom) throws IOException {
        Map<String, Object> values = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        List<JsonNode> cuda = metrics(cudaRun);
        if (!cuda.isEmpty()) {
            values.put("cuda_first_loss", cuda.getFirst().get("loss").asDouble());
            values.put("cuda_last_loss", cuda.getLast().get("loss").asDouble());
            List<JsonNode> steady = cuda.subList(Math.min(steadyFrom, cuda.size() - 1), cuda.size());
            long tokens = steady.stream().mapToLong(s -> s.get("tokens").asLong()).sum();
            double seconds = steady.stream().mapToDouble(s -> s.get("seconds").asDouble()).sum();
            double tokensPerSecond = tokens / seconds;
            values.put("steady_steps", steady.size());
            values.put("tokens_per_second", Math.round(tokensPerSecond));
            JsonNode last = cuda.getLast();
            if (last.has("mfu")) { // MFU is linear in tokens/s: mfu(t) = t · flops per token / peak
                values.put("mfu", round(last.get("mfu").asDouble() / last.get("tokens_per_second").asDouble()
                        * tokensPerSecond));
            }
            Matcher peak = PEAK.matcher(outputs.getFirst());
            if (peak.find()) {
                values.put("peak_in_use_mib", Double.parseDouble(peak.group(2)));
                values.put("peak_reserved_mib", Double.parseDouble(peak.group(3)));
            }
        } else {
            failures.add("no metrics from the CUDA run in " + cudaRun);
        }
        List<JsonNode> cpu = metrics(cpuRun);
        if (!cpu.isEmpty()) {
            values.put("cpu_first_loss", cpu.getFirst().get("loss").asDouble());
        }
        if (!cuda.isEmpty() && !cpu.isEmpty()) {
            double a = cuda.getFirst().get("loss").asDouble();
            double b = cpu.getFirst().get("loss").asDouble();
            double relative = Math.abs(a - b) / Math.abs(b);
            values.put("first_loss_relative_difference", relative);
            values.put("first_loss_tolerance", FIRST_LOSS_TOLERANCE);
            if (!(relative <= FIRST_LOSS_TOLERANCE)) {
                failures.add(String.format(Locale.ROOT, "first-step loss %.6f on the GPU vs %.6f on one CPU rank: "
                        + "relative %.2e > %.0e", a, b, relative, FIRST_LOSS_TOLERANCE));
            }
        }
        return new Figures(values, failures);
    }

    /** A run's loss line ({@code loss A -> B over N steps}) in any of the outputs: it must fall. */
    static Figures trainedLoss(String output) {
        Matcher m = LOSS.matcher(output);
        if (!m.find()) {
            return new Figures(Map.of(), List.of("no 'loss A -> B' line"));
        }
        double first = Double.parseDouble(m.group(1));
        double last = Double.parseDouble(m.group(2));
        return new Figures(Map.of("first_loss", first, "last_loss", last, "steps", Integer.parseInt(m.group(3))),
                last < first ? List.of() : List.of("the loss did not fall: " + first + " -> " + last));
    }

    /** A run's speed line: tokens/s over the steps after the first, and MFU when the device's peak is known. */
    static Figures speed(String output) {
        Matcher m = SPEED.matcher(output);
        if (!m.find()) {
            return new Figures(Map.of(), List.of("no 'speed' line"));
        }
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("tokens_per_second", Double.parseDouble(m.group(1).replace(",", "")));
        if (m.group(2) != null) {
            values.put("mfu_percent", Double.parseDouble(m.group(2)));
        }
        return Figures.of(values);
    }

    /** The lines of a table that a command printed (those not starting with '#'), for the summary. */
    static Figures table(List<String> outputs) {
        return Figures.of(Map.of("table", outputs.isEmpty() ? List.of() : outputs.getLast().lines()
                .filter(l -> !l.isBlank() && !l.startsWith("#") && !l.startsWith("WARNING")).toList()));
    }

    /** Two figures' failures and values together (the second's values win on the same key). */
    static Figures merge(Figures a, Figures b) {
        Map<String, Object> values = new LinkedHashMap<>(a.values());
        values.putAll(b.values());
        List<String> failures = new ArrayList<>(a.failures());
        failures.addAll(b.failures());
        return new Figures(values, failures);
    }

    private static List<JsonNode> metrics(Path run) throws IOException {
        Path file = run.resolve("metrics.jsonl");
        if (!Files.isRegularFile(file)) {
            return List.of();
        }
        List<JsonNode> steps = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (!line.isBlank()) {
                steps.add(JSON.readTree(line));
            }
        }
        return steps;
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }
}
