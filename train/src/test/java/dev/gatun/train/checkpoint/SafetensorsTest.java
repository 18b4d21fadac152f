package dev.gatun.train.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    /** Bytes laid out by hand as the published format says: u64 LE header size, JSON header, data. */
    private static byte[] handWritten(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    @Test
    void readsAFileWrittenByHandToThePublishedFormat(@TempDir Path dir) throws IOException {
        byte[] data = new byte[24 + 4];
        System.arraycopy(floats(1, 2, 3, 4, 5, 6), 0, data, 0, 24);
        data[24] = (byte) 0x80; // two bf16 1.0 = 0x3f80, little-endian
        data[25] = 0x3f;
        data[26] = (byte) 0x80;
        data[27] = 0x3f;
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
        Path f = dir.resolve("hand.safetensors");
        Files.write(f, handWritten(header, data));
        SafetensorsFile st = SafetensorsFile.open(f);
        assertEquals("pt", st.metadata().get("format"));
        assertArrayEquals(new long[]{2, 3}, st.entry("a").shape());
        assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, st.readFloats("a"));
        assertArrayEquals(new float[]{1f, 1f}, st.readFloats("b"));
    }

    @Test
    void roundTripsWhatItWritesWithAChecksumOfTheBytes(@TempDir Path dir) throws IOException {
        Random r = new Random();
        float[] w = new float[37];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        Path f = dir.resolve("x.safetensors");
        long crc = new SafetensorsWriter().addFloats("w", new long[]{37}, w)
                .addFloats("scalar", new long[]{}, new float[]{7}).metadata("step", "5").write(f);
        var c = new java.util.zip.CRC32C();
        c.update(Files.readAllBytes(f));
        assertEquals(c.getValue(), crc);
        SafetensorsFile st = SafetensorsFile.open(f);
        assertArrayEquals(w, st.readFloats("w"));
        assertArrayEquals(new float[]{7}, st.readFloats("scalar"));
        assertEquals("5", st.metadata().get("step"));
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8, "header padded to 8 bytes");
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void corruptFilesFailNamingTheFileAndTheTensor(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter().addFloats("w", new long[]{4}, new float[]{1, 2, 3, 4}).write(f);
        byte[] good = Files.readAllBytes(f);

        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, Arrays.copyOf(good, good.length - 3));
        var e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(truncated));
        assertTrue(e.getMessage().startsWith(truncated + ": tensor 'w': data_offsets [0, 16] lie outside the 13"),
                e.getMessage());

        Path overlap = dir.resolve("overlap.safetensors");
        Files.write(overlap, handWritten("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]));
        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(overlap));
        assertEquals(overlap + ": tensor 'b' overlaps the one before it", e.getMessage());

        Path size = dir.resolve("size.safetensors");
        Files.write(size, handWritten("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                new byte[8]));
        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(size));
        assertEquals(size + ": tensor 'a': 8 bytes for 3 elements of F32", e.getMessage());

        Path garbage = dir.resolve("garbage.safetensors");
        Files.write(garbage, new byte[]{(byte) 0xff, 0, 0, 0, 0, 0, 0, 0x7f, 1, 2});
        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(garbage));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(f).readFloats("nope"));
        assertEquals(f + " has no tensor 'nope'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(dir.resolve("missing")));
        assertEquals("safetensors file " + dir.resolve("missing") + " does not exist", e.getMessage());
    }
}
