package dev.gatun.train.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Writes a safetensors file (huggingface/safetensors): an 8-byte little-endian header length {@code N}, {@code N} bytes
 * of JSON mapping each tensor's name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets into the
 * data that follows, in the order added) plus an optional {@code "__metadata__"} string map, padded with spaces to a
 * multiple of 8, then the little-endian tensor bytes back to back.
 *
 * <p>{@link #write} is atomic: the file is written under a temporary name in the same directory, forced to disk and
 * renamed over the target, so a crash leaves either the old file or the new one, never a torn one.
 */
public final class SafetensorsWriter {
    private record Pending(String name, SafetensorsDtype dtype, long[] shape, ByteBuffer data) {
    }

    private final List<Pending> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Map<String, Boolean> names = new LinkedHashMap<>();

    /** Adds an fp32 tensor of {@code shape} with {@code values} (row-major). */
    public SafetensorsWriter addFloats(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return add(name, SafetensorsDtype.F32, shape, b);
    }

    /** Adds a tensor given as little-endian bytes. */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, ByteBuffer littleEndianData) {
        if (name == null || name.isEmpty() || name.equals("__metadata__")) {
            throw new IllegalArgumentException("tensor name must be non-empty and not __metadata__, got '" + name + "'");
        }
        if (names.put(name, true) != null) {
            throw new IllegalArgumentException("tensor '" + name + "' added twice");
        }
        long numel = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension");
            }
            numel *= d;
        }
        if (littleEndianData.remaining() != numel * dtype.bytes()) {
            throw new IllegalArgumentException("tensor '" + name + "': " + littleEndianData.remaining() + " bytes for "
                    + numel + " elements of " + dtype);
        }
        tensors.add(new Pending(name, dtype, shape.clone(), littleEndianData.duplicate()));
        return this;
    }

    /** Adds a {@code "__metadata__"} entry. */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /**
     * Writes the file atomically and returns the CRC-32C of its bytes (what a checkpoint's metadata records to verify
     * it later).
     */
    public long write(Path file) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        long offset = 0;
        for (Pending t : tensors) {
            long size = t.data().remaining();
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", t.dtype().name());
            e.put("shape", t.shape());
            e.put("data_offsets", new long[]{offset, offset + size});
            header.put(t.name(), e);
            offset += size;
        }
        byte[] json;
        try {
            json = new ObjectMapper().writeValueAsBytes(header);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        CRC32C crc = new CRC32C();
        AtomicFiles.writeAtomically(file, channel -> {
            crc.update(head.duplicate());
            writeFully(channel, head);
            for (Pending t : tensors) {
                crc.update(t.data().duplicate());
                writeFully(channel, t.data().duplicate());
            }
        });
        return crc.getValue();
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
