package dev.gatun.gpt.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenDatasetTest {
    private static final int SEQUENCES = 8;
    private static final int SEQ_LEN = 16;

    /** Random ids, so any two windows at different offsets differ. */
    private static TokenDataset randomDataset(int size) {
        SplittableRandom random = new SplittableRandom(99);
        int[] tokens = new int[size];
        for (int i = 0; i < size; i++) {
            tokens[i] = random.nextInt(50257);
        }
        return TokenDataset.of(tokens);
    }

    @Test
    void targetsAreInputsShiftedByOne() {
        // token i is i, so a window starting at o reads o, o+1, ...
        int[] tokens = new int[1000];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = i;
        }
        Batch b = TokenDataset.of(tokens).globalBatch(3, 5, SEQUENCES, SEQ_LEN);
        for (int s = 0; s < SEQUENCES; s++) {
            int offset = b.inputs()[s * SEQ_LEN];
            assertTrue(offset >= 0 && offset <= tokens.length - SEQ_LEN - 1, "offset " + offset);
            for (int t = 0; t < SEQ_LEN; t++) {
                assertEquals(offset + t, b.inputs()[s * SEQ_LEN + t]);
                assertEquals(offset + t + 1, b.targets()[s * SEQ_LEN + t]);
            }
        }
    }

    @Test
    void shardsConcatenateToTheGlobalBatch() {
        TokenDataset data = randomDataset(5000);
        Batch global = data.globalBatch(1234, 17, SEQUENCES, SEQ_LEN);
        for (int dp : new int[] {1, 2, 4}) {
            int[] inputs = new int[global.tokens()];
            int[] targets = new int[global.tokens()];
            int at = 0;
            for (int r = 0; r < dp; r++) {
                Batch shard = data.shard(global, r, dp);
                assertEquals(SEQUENCES / dp, shard.sequences());
                System.arraycopy(shard.inputs(), 0, inputs, at, shard.tokens());
                System.arraycopy(shard.targets(), 0, targets, at, shard.tokens());
                at += shard.tokens();
            }
            assertEquals(global.tokens(), at, "dp=" + dp);
            assertArrayEquals(global.inputs(), inputs, "dp=" + dp);
            assertArrayEquals(global.targets(), targets, "dp=" + dp);
        }
    }

    @Test
    void microBatchesSplitLikeShards() {
        TokenDataset data = randomDataset(5000);
        Batch global = data.globalBatch(5, 0, SEQUENCES, SEQ_LEN);
        Batch shard = data.shard(global, 1, 2);
        assertEquals(data.shard(global, 2, 4), TokenDataset.microBatch(shard, 0, 2));
        assertEquals(data.shard(global, 3, 4), TokenDataset.microBatch(shard, 1, 2));
    }

    @Test
    void ranksMustDivideSequences() {
        TokenDataset data = randomDataset(5000);
        Batch global = data.globalBatch(5, 0, SEQUENCES, SEQ_LEN);
        var e = assertThrows(IllegalArgumentException.class, () -> data.shard(global, 0, 3));
        assertEquals("ranks=3 must be positive and divide sequences=8", e.getMessage());
        var m = assertThrows(IllegalArgumentException.class, () -> TokenDataset.microBatch(global, 0, 5));
        assertTrue(m.getMessage().contains("micro-batch count=5"), m.getMessage());
        assertThrows(IllegalArgumentException.class, () -> data.shard(global, 2, 2));
    }

    @Test
    void batchDependsOnSeedAndStepOnly() {
        TokenDataset data = randomDataset(5000);
        assertEquals(data.globalBatch(7, 3, SEQUENCES, SEQ_LEN), data.globalBatch(7, 3, SEQUENCES, SEQ_LEN));
        assertEquals(data.globalBatch(7, 3, SEQUENCES, SEQ_LEN),
                randomDataset(5000).globalBatch(7, 3, SEQUENCES, SEQ_LEN));
        assertNotEquals(data.globalBatch(7, 3, SEQUENCES, SEQ_LEN), data.globalBatch(7, 4, SEQUENCES, SEQ_LEN));
        assertNotEquals(data.globalBatch(7, 3, SEQUENCES, SEQ_LEN), data.globalBatch(8, 3, SEQUENCES, SEQ_LEN));
    }

    @Test
    void tooShortCorpusIsReportedWhenABatchIsRequested() {
        TokenDataset data = TokenDataset.of(new int[SEQ_LEN]);
        var e = assertThrows(IllegalArgumentException.class, () -> data.globalBatch(1, 0, 1, SEQ_LEN));
        assertTrue(e.getMessage().contains("16 tokens") && e.getMessage().contains("at least seqLen+1 = 17"),
                e.getMessage());
        // exactly seqLen + 1 tokens is enough: the only window is at offset 0
        Batch b = TokenDataset.of(new int[SEQ_LEN + 1]).globalBatch(1, 0, 2, SEQ_LEN);
        assertEquals(2, b.sequences());
        assertThrows(IllegalArgumentException.class, () -> TokenDataset.of(new int[0]).globalBatch(1, 0, 1, 1));
    }

    @Test
    void missingFileIsNamed(@TempDir Path dir) {
        Path missing = dir.resolve("nope.txt");
        var e = assertThrows(IllegalArgumentException.class,
                () -> TokenDataset.fromFile(missing, new ByteTokenizer()));
        assertEquals("data file " + missing + " does not exist", e.getMessage());
    }

    @Test
    void directoryCannotBeRead(@TempDir Path dir) {
        var e = assertThrows(IllegalArgumentException.class, () -> TokenDataset.fromFile(dir, new ByteTokenizer()));
        assertTrue(e.getMessage().startsWith("data file " + dir + " cannot be read: "), e.getMessage());
    }

    @Test
    void fileIsTokenized(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("corpus.txt");
        Files.writeString(file, "1+1=2\n");
        TokenDataset data = TokenDataset.fromFile(file, new ByteTokenizer());
        assertEquals(6, data.size());
        assertEquals('=', data.maxTokenId());
        assertEquals(-1, TokenDataset.of(new int[0]).maxTokenId());
    }

    @Test
    void batchValidatesLengths() {
        var e = assertThrows(IllegalArgumentException.class, () -> new Batch(new int[6], new int[8], 2, 4));
        assertTrue(e.getMessage().contains("expected sequences*seqLen = 2*4 = 8"), e.getMessage());
    }
}
