package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;

import static dev.gatun.collectives.TestData.poisoned;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommOpTest {
    @Test
    void signaturesCarryNcclsCountAndTheCallsSize() {
        try (HostAllocator allocator = new HostAllocator();
             Tensor whole = poisoned(allocator, DType.BF16, 4 * 7, 0);
             Tensor shard = poisoned(allocator, DType.BF16, 7, 0)) {
            OpSignature rs = new CommOp.ReduceScatter(whole, shard, ReduceOp.AVG).signature();
            assertEquals(7, rs.count());
            assertEquals(4 * 7 * 2, rs.bytes());
            assertEquals("reduceScatter(bf16 × 7, avg)", rs.toString());
            OpSignature ag = new CommOp.AllGather(shard, whole).signature();
            assertEquals(7, ag.count());
            assertEquals(4 * 7 * 2, ag.bytes());
            assertEquals("broadcast(bf16 × 28, root 3)", new CommOp.Broadcast(whole, whole, 3).signature().toString());
            assertEquals("recv(bf16 × 7, from 1)", new CommOp.Recv(shard, 1).signature().toString());
            assertEquals("barrier()", new CommOp.Barrier().signature().toString());
        }
    }

    @Test
    void theRanksOwnSliceIsInPlaceAndAnyOtherOverlapIsRejected() {
        try (HostAllocator allocator = new HostAllocator();
             Tensor whole = poisoned(allocator, DType.FP32, 4 * 5, 0)) {
            assertDoesNotThrow(() -> new CommOp.ReduceScatter(whole, whole.flat(10, 5), ReduceOp.SUM).check(2, 4));
            assertDoesNotThrow(() -> new CommOp.AllGather(whole.flat(15, 5), whole).check(3, 4));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new CommOp.ReduceScatter(whole, whole.flat(10, 5), ReduceOp.SUM).check(1, 4));
            assertTrue(e.getMessage().contains("flat(1 × 5, 5)"), e.getMessage());
        }
    }
}
