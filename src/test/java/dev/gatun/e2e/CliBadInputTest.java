package dev.gatun.e2e;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input through every subcommand: each ends with one line on stderr that says what is wrong, and exit code 2
 * (bad input) or 1 (a failure during the run); never a stack trace, never an "unexpected" error.
 */
@Timeout(300)
class CliBadInputTest {
    @TempDir
    static Path dir;
    static Path file;
    static Path overflowHf;
    static Path garbage;

    @BeforeAll
    static void files() throws IOException {
        file = Files.writeString(dir.resolve("a-file"), "x");
        garbage = Files.write(dir.resolve("garbage.safetensors"), new byte[]{1, 2, 3});
        // a safetensors header whose tensor shape has more elements than a long holds
        String header = "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                + "\"data_offsets\":[0,4]}}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).putInt(0);
        overflowHf = Files.write(dir.resolve("overflow.safetensors"), b.array());
    }

    static Stream<String> badInputs() {
        String out = "--out=" + dir.resolve("out");
        List<String> cases = new ArrayList<>(List.of(
                "nosuch",
                "info --nosuch",
                "comm-bench --ranks 0", "comm-bench --ranks -1", "comm-bench -b 0", "comm-bench -f 1",
                "comm-bench -n 0", "comm-bench -w -1", "comm-bench --op nosuch", "comm-bench --dtype nosuch",
                "comm-bench -b 2048 -e 1024", "comm-bench -b 1Q", "comm-bench --backend nosuch",
                "bench gemm --sizes 0", "bench gemm --repeat 0", "bench gemm --dtype nosuch",
                "bench train --ranks 0", "bench train --steps 0", "bench train --warmup -1", "bench train --mode nosuch",
                "bench train --preset nosuch", "bench train --backend nosuch", "bench comm --ranks 0",
                "launch --nproc 0 -- info", "launch --nproc 2", "launch --nproc 1 --timeout nosuch -- info",
                "train --steps 0", "train --batch 0", "train --layers 0", "train --heads 0", "train --channels 7",
                "train --seq-len 0", "train --microbatches 0", "train --virtual-stages 0", "train --schedule nosuch",
                "train --zero 5", "train --precision nosuch", "train --device nosuch", "train --tokenizer nosuch",
                "train --preset nosuch", "train --timeout nosuch", "train --keep 0", "train --save-every -1",
                "train --lr -1 --steps 1", "train --lr nan --steps 1", "train --min-lr 1 --lr 0.1 --steps 1",
                "train --warmup -1 --steps 1", "train --warmup 5 --steps 2", "train --clip -1 --steps 1",
                "train --weight-decay -1 --steps 1", "train --peak-tflops 0", "train --channels 65536", "train --backend nosuch",
                "train --backend mpi", "train --device cuda --backend mpi",
                "train --layers 100000",
                "train --data " + dir.resolve("missing.txt"), "train --data " + dir,
                "train --init-hf " + dir.resolve("missing.safetensors"), "train --init-hf " + garbage,
                "train --init-hf " + overflowHf, "train --init-hf " + dir,
                "train --resume " + dir.resolve("missing"), "train --out " + file,
                "train --export-hf " + dir, "train --export-hf " + file.resolve("x.safetensors")));
        return cases.stream().map(c -> c.startsWith("train") ? c + " " + out : c);
    }

    @ParameterizedTest(name = "gatun {0}")
    @MethodSource("badInputs")
    void badInputEndsInOneLineWithoutAStackTrace(String line) {
        Cli.Run r = Cli.run(line.split(" "));
        int exit = r.exit();
        String e = r.err();
        assertTrue(exit == 1 || exit == 2, "exit " + exit + "\n" + r.out() + e);
        assertEquals(1, e.strip().lines().count(), "one line:\n" + e);
        assertFalse(e.contains("\tat ") || e.contains("unexpected "), e);
        assertTrue(e.startsWith("gatun"), e);
    }
}
