package dev.gatun.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.gatun.memory.HalfFloats;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file opened for reading (the format {@link SafetensorsWriter} describes). Opening checks the whole
 * header before any tensor is read: the header length fits the file, the JSON parses, every dtype is known, every
 * tensor's byte range has exactly {@code numel·bytes} bytes, lies inside the data and overlaps no other, and the data
 * ends where the last tensor does. Reads fetch only the byte range of the tensor asked for. Every error names the file
 * (and the tensor).
 */
public final class SafetensorsFile {
    /** Refuse headers above this size (the format's own readers use 100 MB). */
    static final long MAX_HEADER = 100L << 20;

    /** A tensor's entry: dtype, shape and byte range within the data section. */
    public record Entry(String name, SafetensorsDtype dtype, long[] shape, long begin, long end) {
        /** Elements. */
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private final Path file;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path file, long dataStart, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Opens and validates {@code file}. */
    public static SafetensorsFile open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("safetensors file " + file + " does not exist");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new IllegalArgumentException(file + ": " + size + " bytes, too short for a safetensors header");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0);
            long n = len.flip().getLong();
            if (n < 2 || n > MAX_HEADER || n > size - 8) {
                throw new IllegalArgumentException(file + ": header length " + n + " does not fit a file of " + size
                        + " bytes (truncated or not a safetensors file)");
            }
            ByteBuffer json = ByteBuffer.allocate((int) n);
            readFully(ch, json, 8);
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(json.array());
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ": the header is not valid JSON: " + e.getMessage());
            }
            if (root == null || !root.isObject()) {
                throw new IllegalArgumentException(file + ": the header is not a JSON object");
            }
            return parse(file, root, 8 + n, size - 8 - n);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static SafetensorsFile parse(Path file, JsonNode root, long dataStart, long dataSize) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = file + ": tensor '" + name + "'";
            JsonNode shapeNode = v.get("shape");
            JsonNode offsets = v.get("data_offsets");
            if (v.get("dtype") == null || shapeNode == null || !shapeNode.isArray() || offsets == null
                    || !offsets.isArray() || offsets.size() != 2) {
                throw new IllegalArgumentException(where + " needs dtype, shape and data_offsets [begin, end]");
            }
            SafetensorsDtype dtype = SafetensorsDtype.parse(v.get("dtype").asText(), where);
            long[] shape = new long[shapeNode.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) {
                    throw new IllegalArgumentException(where + " has an invalid shape " + shapeNode);
                }
                if (shape[i] != 0 && numel > Long.MAX_VALUE / shape[i]) {
                    throw new IllegalArgumentException(where + " has the shape " + shapeNode + ", more elements than a "
                            + "long can count (a corrupt or hostile header)");
                }
                numel *= shape[i];
            }
            long begin = offsets.get(0).asLong(-1);
            long end = offsets.get(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataSize) {
                throw new IllegalArgumentException(where + ": data_offsets [" + begin + ", " + end + "] lie outside the "
                        + dataSize + " data bytes (truncated file?)");
            }
            if (end - begin != numel * dtype.bytes()) {
                throw new IllegalArgumentException(where + ": " + (end - begin) + " bytes for " + numel + " elements of "
                        + dtype);
            }
            entries.put(name, new Entry(name, dtype, shape, begin, end));
        }
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin));
        long at = 0;
        for (Entry e : sorted) {
            if (e.begin() < at) {
                throw new IllegalArgumentException(file + ": tensor '" + e.name() + "' overlaps the one before it");
            }
            at = e.end();
        }
        if (at != dataSize) {
            throw new IllegalArgumentException(file + ": the tensors cover " + at + " of " + dataSize
                    + " data bytes");
        }
        return new SafetensorsFile(file, dataStart, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** Tensors by name, in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The {@code __metadata__} strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The entry of {@code name}. */
    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new IllegalArgumentException(file + " has no tensor '" + name + "'");
        }
        return e;
    }

    /** The tensor's bytes, little-endian, read from its byte range only. */
    public ByteBuffer readBytes(String name) {
        Entry e = entry(name);
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            readFully(ch, b, dataStart + e.begin());
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read tensor '" + name + "' from " + file + ": " + ex.getMessage(),
                    ex);
        }
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Elements {@code [from, from + count)} of an F32 tensor, reading only their bytes.
     *
     * @throws IllegalArgumentException when the tensor is not F32 or the range is outside it
     */
    public float[] readFloats(String name, long from, int count) {
        Entry e = entry(name);
        if (e.dtype() != SafetensorsDtype.F32 || from < 0 || count < 0 || from + count > e.numel()) {
            throw new IllegalArgumentException(file + ": cannot read elements [" + from + ", " + (from + count)
                    + ") of tensor '" + name + "' (" + e.dtype() + ", " + e.numel() + " elements)");
        }
        ByteBuffer b = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            readFully(ch, b, dataStart + e.begin() + from * 4);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read tensor '" + name + "' from " + file + ": " + ex.getMessage(),
                    ex);
        }
        float[] out = new float[count];
        b.flip().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    /** A floating-point tensor (F32, BF16 or F16) as fp32 values, row-major. */
    public float[] readFloats(String name) {
        Entry e = entry(name);
        ByteBuffer b = readBytes(name);
        float[] out = new float[Math.toIntExact(e.numel())];
        switch (e.dtype()) {
            case F32 -> b.asFloatBuffer().get(out);
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.bf16BitsToFloat(b.getShort(2 * i));
                }
            }
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.fp16BitsToFloat(b.getShort(2 * i));
                }
            }
            default -> throw new IllegalArgumentException(file + ": tensor '" + name + "' is " + e.dtype()
                    + ", not floating point");
        }
        return out;
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        long at = position;
        while (b.hasRemaining()) {
            int r = ch.read(b, at);
            if (r < 0) {
                throw new IOException("unexpected end of file at byte " + at);
            }
            at += r;
        }
    }
}
