package dev.gatun.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.LinkOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A directory of training checkpoints, one sub-directory {@code step-<n>} per saved step holding one safetensors file
 * per rank ({@code rank-<r>.safetensors}, each written atomically by its rank) and, written last and atomically by
 * rank 0 once every rank's file is complete, {@code checkpoint.json}: the step, the layout and model it was saved
 * with, the id of the run that saved it, every parameter's global shape and dtype, and for each file its size,
 * CRC-32C and tensors (the state shards and the {@code map.<unit>.<parameter>} runs of global indices each file
 * holds, with their byte ranges).
 *
 * <p>A step directory without a verifying {@code checkpoint.json} is not a checkpoint: a save that dies part-way
 * leaves the previous checkpoint as the newest that verifies. Verifying ({@link #verify}) reads every field strictly
 * (a missing or mistyped one is refused naming the file and the field) and requires the listing to hold exactly one
 * file per rank, by its plain name in the step directory, each with its recorded size and checksum: a restore reads
 * only files that were checked. After a commit only the newest {@code keep} checkpoints of the committing run are
 * kept.
 */
public final class CheckpointDirectory {
    /** The name of a step folder's listing, written last: a step folder without it is not a checkpoint. */
    public static final String INFO = "checkpoint.json";
    private static final Pattern STEP_DIRECTORY = Pattern.compile("step-(\\d{8})");
    private static final Pattern RANK_FILE = Pattern.compile("rank-\\d{5}\\.safetensors");
    private final Path root;
    private final int keep;

    /**
     * What a checkpoint says about itself, once verified.
     *
     * @param directory the step directory it was read from
     * @param runId     the run that saved it (a resumed run keeps its id); empty for checkpoints saved without one
     * @param files     every rank's file ({@code rank-<r>.safetensors} for each rank below {@code worldSize}), with
     *                  its size and CRC-32C
     */
    public record Info(Path directory, long step, int worldSize, String layout, String model, String runId,
                       Map<String, String> extra, Map<String, FileDigest> files) {
        /** Rank {@code rank}'s file, as listed and verified. */
        public Path rankFile(int rank) {
            String name = rankFileName(rank);
            if (!files.containsKey(name)) {
                throw new IllegalArgumentException(directory + " has no file of rank " + rank + " (" + worldSize
                        + " ranks)");
            }
            return directory.resolve(name);
        }
    }

    /** The newest checkpoint that verifies, and each newer one that did not, with the reason. */
    public record Found(Info info, List<String> rejected) {
        public Found {
            rejected = List.copyOf(rejected);
        }
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
        return stepDirectory(step).resolve(rankFileName(rank));
    }

    private static String rankFileName(int rank) {
        return String.format("rank-%05d.safetensors", rank);
    }

    /** The step of a step directory's name ({@code step-00000042}), or empty for any other name. */
    public static OptionalLong stepOf(Path directory) {
        Matcher m = STEP_DIRECTORY.matcher(directory.getFileName() == null ? "" : directory.getFileName().toString());
        return m.matches() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /**
     * Rank 0, after every rank has written its file: verifies the files exist, records their sizes and checksums in
     * {@code checkpoint.json} (atomically) with the run's id, and removes this run's checkpoints older than its
     * newest {@code keep} (another run's checkpoints in the same directory are left alone).
     */
    public void commit(long step, int worldSize, String layout, String model, String runId,
                       Map<String, String> extra) {
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
        info.put("step", step).put("world_size", worldSize).put("layout", layout).put("model", model)
                .put("run_id", runId);
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
            dev.gatun.train.checkpoint.AtomicFiles.writeAtomically(stepDirectory(step).resolve(INFO),
                    json.writerWithDefaultPrettyPrinter().writeValueAsString(info));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Long> steps = committedSteps().stream().filter(s -> runId.equals(runIdOf(s))).toList();
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

    /**
     * The newest committed checkpoint that verifies, with the newer ones that failed and why; empty when the
     * directory holds no committed checkpoint.
     *
     * @throws IllegalArgumentException when there are committed checkpoints but none verifies, naming each
     */
    public Optional<Found> newestVerified() {
        List<Long> steps = committedSteps();
        List<String> rejected = new ArrayList<>();
        for (int i = steps.size() - 1; i >= 0; i--) {
            try {
                return Optional.of(new Found(verify(steps.get(i)), rejected));
            } catch (IllegalArgumentException e) {
                rejected.add(e.getMessage());
            }
        }
        if (!rejected.isEmpty()) {
            throw new IllegalArgumentException("no checkpoint in " + root + " verifies: "
                    + String.join("; ", rejected));
        }
        return Optional.empty();
    }

    /**
     * The checkpoint a user means by {@code path}, verified: a run's output folder (the newest verified checkpoint of
     * its {@code checkpoints/}), a checkpoints folder (its newest verified one) or one {@code step-N} folder (that
     * checkpoint).
     *
     * @throws IllegalArgumentException when {@code path} holds no committed checkpoint, saying what was looked for,
     *                                  or when it holds some and none verifies, naming each
     */
    public static Found locate(Path path) {
        if (!Files.isDirectory(path)) {
            throw new IllegalArgumentException(path + " is not a directory");
        }
        Path absolute = path.toAbsolutePath().normalize();
        OptionalLong step = stepOf(absolute);
        if (step.isPresent() && Files.isRegularFile(absolute.resolve(INFO))) {
            return new Found(new CheckpointDirectory(absolute.getParent(), 1).verify(step.getAsLong()), List.of());
        }
        boolean unfinished = false;
        for (Path candidate : List.of(absolute, absolute.resolve("checkpoints"))) {
            CheckpointDirectory dir = new CheckpointDirectory(candidate, 1);
            Optional<Found> found = dir.newestVerified();
            if (found.isPresent()) {
                return found.get();
            }
            unfinished |= dir.hasStepDirectories();
        }
        throw new IllegalArgumentException("no checkpoint in " + path + ": expected a run's --out folder (holding "
                + "checkpoints/), a checkpoints folder (holding step-NNNNNNNN/" + INFO + ") or one step-NNNNNNNN "
                + "folder" + (unfinished ? "; its step folders have no " + INFO + " (saves that did not finish)" : ""));
    }

    private boolean hasStepDirectories() {
        if (!Files.isDirectory(root)) {
            return false;
        }
        try (Stream<Path> dirs = Files.list(root)) {
            return dirs.anyMatch(d -> stepOf(d).isPresent());
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes step {@code step}'s directory (e.g. another run's checkpoint that the user asked to overwrite). */
    public void delete(long step) {
        deleteRecursively(stepDirectory(step));
    }

    /** The run id recorded by step {@code step}'s {@code checkpoint.json}, or "" when it has none or is unreadable. */
    public String runIdOf(long step) {
        try {
            JsonNode id = new ObjectMapper().readTree(stepDirectory(step).resolve(INFO).toFile()).get("run_id");
            return id != null && id.isTextual() ? id.asText() : "";
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * Reads and verifies step {@code step}'s checkpoint: every file listed exists with its recorded size and checksum.
     *
     * @throws IllegalArgumentException naming the file that is missing, truncated or corrupt
     */
    public Info verify(long step) {
        Path dir = stepDirectory(step);
        Path infoFile = dir.resolve(INFO);
        if (!Files.isRegularFile(infoFile)) {
            throw new IllegalArgumentException("no checkpoint at " + dir + " (" + INFO + " missing)");
        }
        JsonNode node;
        try {
            node = new ObjectMapper().readTree(infoFile.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(infoFile + " is not valid JSON: " + e.getMessage().lines().findFirst()
                    .orElse(""));
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(infoFile + " is not a JSON object");
        }
        long saved = number(infoFile, node, "step");
        if (saved != step) {
            throw new IllegalArgumentException(infoFile + ": field 'step' is " + saved
                    + " but the directory is of step " + step);
        }
        long worldSize = number(infoFile, node, "world_size");
        if (worldSize < 1 || worldSize > 1 << 20) {
            throw new IllegalArgumentException(infoFile + ": field 'world_size' must be in [1, 2^20], got "
                    + worldSize);
        }
        String layout = text(infoFile, node, "layout");
        String model = text(infoFile, node, "model");
        JsonNode runId = node.get("run_id");
        Map<String, String> extra = new LinkedHashMap<>();
        object(infoFile, node, "extra").fields().forEachRemaining(e -> extra.put(e.getKey(), e.getValue().asText()));
        Map<String, FileDigest> files = new LinkedHashMap<>();
        object(infoFile, node, "files").fields().forEachRemaining(f -> {
            if (!RANK_FILE.matcher(f.getKey()).matches() || !f.getValue().isObject()) {
                throw new IllegalArgumentException(infoFile + ": field 'files' lists '" + f.getKey() + "', not a rank "
                        + "file of this directory (rank-NNNNN.safetensors with its size and crc32c)");
            }
            String field = "files." + f.getKey();
            files.put(f.getKey(), new FileDigest(number(infoFile, f.getValue(), "size", field + ".size"),
                    number(infoFile, f.getValue(), "crc32c", field + ".crc32c")));
        });
        for (int r = 0; r < worldSize; r++) {
            if (!files.containsKey(rankFileName(r))) {
                throw new IllegalArgumentException(infoFile + ": field 'files' does not list " + rankFileName(r)
                        + ", which a checkpoint of " + worldSize + " ranks must have");
            }
        }
        if (files.size() != worldSize) {
            throw new IllegalArgumentException(infoFile + ": field 'files' lists " + files.size() + " files for "
                    + worldSize + " ranks");
        }
        for (var f : files.entrySet()) {
            Path p = dir.resolve(f.getKey());
            if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
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
        return new Info(dir, step, (int) worldSize, layout, model, runId != null && runId.isTextual()
                ? runId.asText() : "", extra, files);
    }

    private static long number(Path file, JsonNode node, String name) {
        return number(file, node, name, name);
    }

    private static long number(Path file, JsonNode node, String name, String field) {
        return required(file, node, name, field, JsonNode::canConvertToLong, "an integer").asLong();
    }

    private static String text(Path file, JsonNode node, String field) {
        return required(file, node, field, field, JsonNode::isTextual, "a string").asText();
    }

    private static JsonNode object(Path file, JsonNode node, String field) {
        return required(file, node, field, field, JsonNode::isObject, "an object");
    }

    /** {@code node.get(name)}, or a one-line error naming the file and the field if it is missing or not {@code kind}. */
    private static JsonNode required(Path file, JsonNode node, String name, String field,
                                     java.util.function.Predicate<JsonNode> ok, String kind) {
        JsonNode v = node.get(name);
        if (v == null || !ok.test(v)) {
            throw new IllegalArgumentException(file + ": field '" + field + "' is " + (v == null ? "missing"
                    : "not " + kind + " (" + v + ")"));
        }
        return v;
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
