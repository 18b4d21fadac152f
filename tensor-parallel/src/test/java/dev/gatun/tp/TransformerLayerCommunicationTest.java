package dev.gatun.tp;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Megatron's figure: per transformer layer, 2 all-reduces of b·s·h forward and 2 backward, nothing else. */
@Timeout(30)
class TransformerLayerCommunicationTest {
    @ParameterizedTest
    @CsvSource({"2, 12, 6", "3, 12, 6", "4, 16, 4"})
    void attentionPlusMlpIssueTwoAllReducesEachWay(int tp, int h, int heads) {
        int b = 2;
        int s = 5;
        TpTesting.run(tp, rank -> {
            try (var attn = new ParallelAttention(h, heads, rank.mappings(), rank.backend(), rank.allocator(), "a", 1);
                 var mlp = new ParallelMlp(h, rank.mappings(), rank.backend(), rank.allocator(), "m", 1);
                 Tensor x = rank.tensor("x", TpTesting.random("x", b * s * h), b, s, h);
                 Tensor dy = rank.tensor("dy", TpTesting.random("dy", b * s * h), b, s, h)) {
                CommStats start = rank.comm().stats();
                try (Tensor a = attn.forward(0, x)) {
                    try (Tensor y = mlp.forward(0, a)) {
                        CommStats forward = rank.comm().stats().minus(start);
                        assertEquals(2, forward.totalCalls());
                        assertEquals(2, forward.calls(OpType.ALL_REDUCE));
                        assertEquals(2L * b * s * h * 4, forward.bytes(OpType.ALL_REDUCE));
                    }
                    CommStats mid = rank.comm().stats();
                    try (Tensor da = mlp.backward(0, dy); Tensor dx = attn.backward(0, da)) {
                        CommStats backward = rank.comm().stats().minus(mid);
                        assertEquals(2, backward.totalCalls());
                        assertEquals(2, backward.calls(OpType.ALL_REDUCE));
                        assertEquals(2L * b * s * h * 4, backward.bytes(OpType.ALL_REDUCE));
                    }
                }
            }
            return null;
        });
    }
}
