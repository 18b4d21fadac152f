package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParameterTest {
    private static final DeviceStream CPU = DeviceStream.cpu();

    @Test
    void bindingFreesWhatTheParameterAllocatedAndKeepsWhatItIsGiven() {
        try (HostAllocator allocator = new HostAllocator()) {
            Parameter p = Parameter.constant(allocator, CPU, "ln.weight", Shape.of(4), 1f);
            Tensor ownValue = p.value();
            Tensor ownGrad = p.grad();
            assertArrayEquals(new float[]{1, 1, 1, 1}, ownValue.toFloatArray(CPU));
            assertArrayEquals(new float[4], ownGrad.toFloatArray(CPU));
            try (Tensor flat = Tensor.allocate(allocator, DType.FP32, Shape.of(10), MemoryCategory.PARAMETERS, "flat",
                    CPU)) {
                flat.fill(2f, CPU);
                Tensor view = flat.flat(3, 4).reshape(4);
                p.bind(view, ownGrad);
                assertSame(view, p.value());
                assertFalse(ownValue.isLive(), "the parameter's own value is freed when replaced");
                assertTrue(ownGrad.isLive(), "an unchanged gradient stays");
                p.close();
                assertTrue(flat.isLive(), "a bound tensor stays its owner's");
                assertFalse(ownGrad.isLive());
            }
        }
    }

    @Test
    void bindingRejectsAWrongShapeOrDtypeNamingTheParameter() {
        try (HostAllocator allocator = new HostAllocator();
             Parameter p = Parameter.gaussian(allocator, CPU, "w", Shape.of(2, 3), 7, 0.02, i -> i);
             Tensor wrong = Tensor.allocate(allocator, DType.FP32, Shape.of(3, 2), MemoryCategory.PARAMETERS, "x",
                     CPU);
             Tensor bf16 = Tensor.allocate(allocator, DType.BF16, Shape.of(2, 3), MemoryCategory.PARAMETERS, "y",
                     CPU)) {
            var e = assertThrows(IllegalArgumentException.class, () -> p.bind(wrong, p.grad()));
            assertEquals("parameter 'w' needs an fp32 value of shape " + Shape.of(2, 3) + ", got 'x' fp32 "
                    + Shape.of(3, 2), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.bind(p.value(), bf16));
            assertEquals(ParameterInit.gaussian(7, "w", 5, 0.02), p.value().toFloatArray(CPU)[5]);
        }
    }
}
