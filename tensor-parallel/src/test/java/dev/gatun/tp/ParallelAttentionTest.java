package dev.gatun.tp;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class ParallelAttentionTest {
    static BlockHarness.Block block(TpTesting.Rank rank, int h, int heads) {
        ParallelAttention attn = new ParallelAttention(h, heads, rank.mappings(), rank.backend(), rank.allocator(),
                "attn", 9);
        return new BlockHarness.Block() {
            public Tensor forward(int mb, Tensor x) {
                return attn.forward(mb, x);
            }

            public Tensor backward(int mb, Tensor dy) {
                return attn.backward(mb, dy);
            }

            public ColumnParallelLinear column() {
                return attn.qkv();
            }

            public RowParallelLinear row() {
                return attn.proj();
            }

            public void close() {
                attn.close();
            }
        };
    }

    @ParameterizedTest
    @CsvSource({"2, 12, 6", "3, 12, 6", "2, 16, 4", "4, 16, 4"})
    void matchesTheSingleDeviceAttention(int tp, int h, int heads) {
        BlockHarness.assertMatchesSingleDevice(tp, h, rank -> block(rank, h, heads));
    }

    @Test
    void shardHoldsTheQkvRowsOfItsOwnHeads() {
        TpTesting.run(2, rank -> {
            try (var attn = new ParallelAttention(8, 4, rank.mappings(), rank.backend(), rank.allocator(), "a", 1)) {
                int[] expected = rank.rank() == 0
                        ? new int[] {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19}
                        : new int[] {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23};
                for (int j = 0; j < expected.length; j++) {
                    assertEquals(expected[j], attn.qkv().globalOutputColumn(j));
                }
                float[] w = rank.read(attn.qkv().weight().value());
                for (int j = 0; j < expected.length; j++) {
                    for (int i = 0; i < 8; i++) {
                        assertEquals(ParameterInit.gaussian(1, "a.qkv.weight", expected[j] * 8L + i, 0.02),
                                w[j * 8 + i], 0f);
                    }
                }
            }
            return null;
        });
    }

    @Test
    void rejectsASizeThatDoesNotDivideTheHeads() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(4, rank -> block(rank, 12, 6)));
        assertEquals("tp=4 must divide numHeads=6: choose tp in {1, 2, 3, 6}",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }
}
