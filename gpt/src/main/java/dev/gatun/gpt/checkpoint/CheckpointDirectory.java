package dev.gatun.gpt.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A directory of training checkpoints, one sub-directory {@code step-<n>} per saved step holding one safetensors file
 * per rank ({@code rank-<r>.safetensors}, each written atomically by its rank) and, written last and atomically by
 * rank 0 once every rank's file is complete, {@code checkpoint.json}: the step, the layout and model it was saved
 * with, every parameter's global shape and dtype, and for each file its size, CRC-32C and tensors (the state shards
 * and the {@code map.<unit>.<parameter>} runs of global indices each file holds, with their byte ranges). A step directory without a verifying {@code checkpoint.json} is not a
 * checkpoint: a save that dies part-way leaves the previous checkpoint as the latest. After a commit only the newest
 * {@code keep} checkpoints are kept.
 */
public final class CheckpointDirectory {
    static final String INFO = "checkpoint.json";
    private final Path root;
    private final int keep;

    /** What a checkpoint says about itself. */
    public record Info(long step, int worldSize, String layout, String model, Map<String, String> extra,
                       Map<String, FileDigest> files) {
    }

    /** A file's size and CRC-32C. */
    public record FileDigest(long size, long crc32c) {
    }

    /** @param keep how many checkpoints to keep, {@code >= 1} */
    public CheckpointDirectory(Path root, int keep) {
        if (keep < 1) {
            throw new IllegalArgumentException("keep must be >= 1, got " + keep);
        }
        this.root = root;
        this.keep = keep;
    }

    /** The directory. */
    public Path root() {
        return root;
    }

    /** Where step {@code step} is saved. */
    public Path stepDirectory(long step) {
        return root.resolve(String.format("step-%08d", step));
    }

    /** Rank {@code rank}'s file of step {@code step}. */
    public Path rankFile(long step, int rank) {
        return stepDirectory(step).resolve(String.format("rank-%05d.safetensors", rank));
    }

    /**
     * Rank 0, after every rank has written its file: verifies the files exist, records their sizes and checksums in
     * {@code checkpoint.json} (atomically), and removes checkpoints older than the newest {@code keep}.
     */
    public void commit(long step, int worldSize, String layout, String model, Map<String, String> extra) {
        Map<String, FileDigest> files = new LinkedHashMap<>();
        for (int r = 0; r < worldSize; r++) {
            Path f = rankFile(step, r);
            if (!Files.isRegularFile(f)) {
                throw new IllegalStateException("cannot commit step " + step + ": " + f + " is missing");
            }
            files.put(f.getFileName().toString(), digest(f));
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode info = json.createObjectNode();
        info.put("step", step).put("world_size", worldSize).put("layout", layout).put("model", model);
        ObjectNode ex = info.putObject("extra");
        extra.forEach(ex::put);
        ObjectNode parameters = info.putObject("parameters");
        ObjectNode fs = info.putObject("files");
        files.forEach((name, d) -> {
            ObjectNode fileNode = fs.putObject(name).put("size", d.size()).put("crc32c", d.crc32c());
            SafetensorsFile st = SafetensorsFile.open(stepDirectory(step).resolve(name)); // the header only
            st.metadata().forEach((k, v) -> {
                if (k.startsWith("global_shape.")) {
                    parameters.putObject(k.substring("global_shape.".length())).put("dtype", "F32").put("shape", v);
                }
            });
            ObjectNode tensors = fileNode.putObject("tensors");
            st.entries().values().forEach(e -> tensors.putObject(e.name()).put("dtype", e.dtype().name())
                    .put("shape", java.util.Arrays.toString(e.shape())).put("begin", e.begin()).put("end", e.end()));
        });
        try {
            dev.gatun.gpt.report.ReportFiles.writeAtomically(stepDirectory(step).resolve(INFO),
                    json.writerWithDefaultPrettyPrinter().writeValueAsString(info));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Long> steps = committedSteps();
        for (int i = 0; i < steps.size() - keep; i++) {
            deleteRecursively(stepDirectory(steps.get(i)));
        }
    }

    /** Steps with a {@code checkpoint.json}, oldest first (not yet verified). */
    public List<Long> committedSteps() {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> dirs = Files.list(root)) {
            return dirs.filter(d -> d.getFileName().toString().matches("step-\\d{8}")
                            && Files.isRegularFile(d.resolve(INFO)))
                    .map(d -> Long.parseLong(d.getFileName().toString().substring(5))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + root + ": " + e.getMessage(), e);
        }
    }

    /** The newest committed checkpoint, verified; empty if there is none. */
    public Optional<Info> latest() {
        List<Long> steps = committedSteps();
        return steps.isEmpty() ? Optional.empty() : Optional.of(verify(steps.getLast()));
    }

    /**
     * Reads and verifies step {@code step}'s checkpoint: every file listed exists with its recorded size and checksum.
     *
     * @throws IllegalArgumentException naming the file that is missing, truncated or corrupt
     */
    public Info verify(long step) {
        Path infoFile = stepDirectory(step).resolve(INFO);
        if (!Files.isRegularFile(infoFile)) {
            throw new IllegalArgumentException("no checkpoint at " + stepDirectory(step) + " (" + INFO + " missing)");
        }
        JsonNode node;
        try {
            node = new ObjectMapper().readTree(infoFile.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(infoFile + " is not valid JSON: " + e.getMessage());
        }
        Map<String, FileDigest> files = new LinkedHashMap<>();
        node.get("files").fields().forEachRemaining(f -> files.put(f.getKey(),
                new FileDigest(f.getValue().get("size").asLong(), f.getValue().get("crc32c").asLong())));
        for (var f : files.entrySet()) {
            Path p = stepDirectory(step).resolve(f.getKey());
            if (!Files.isRegularFile(p)) {
                throw new IllegalArgumentException("checkpoint file " + p + " is missing");
            }
            FileDigest d = digest(p);
            if (d.size() != f.getValue().size()) {
                throw new IllegalArgumentException("checkpoint file " + p + " has " + d.size() + " bytes, "
                        + f.getValue().size() + " were written (truncated?)");
            }
            if (d.crc32c() != f.getValue().crc32c()) {
                throw new IllegalArgumentException("checkpoint file " + p + " fails its checksum (corrupt)");
            }
        }
        Map<String, String> extra = new LinkedHashMap<>();
        node.get("extra").fields().forEachRemaining(e -> extra.put(e.getKey(), e.getValue().asText()));
        return new Info(node.get("step").asLong(), node.get("world_size").asInt(), node.get("layout").asText(),
                node.get("model").asText(), extra, files);
    }

    private static FileDigest digest(Path f) {
        CRC32C crc = new CRC32C();
        long size = 0;
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                crc.update(buf, 0, n);
                size += n;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
        }
        return new FileDigest(size, crc.getValue());
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the old checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }
}
