package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceMeshTest {
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(10));

    @Test
    void ranksAreOrderedTpInnermostThenDpThenPp() {
        DeviceMesh mesh = new DeviceMesh(2, 2, 3);
        assertEquals(12, mesh.size());
        assertEquals(new DeviceMesh.Coordinates(0, 1, 1), mesh.coordinates(7));
        assertEquals(7, mesh.rank(new DeviceMesh.Coordinates(0, 1, 1)));
        assertEquals(List.of(6, 7, 8), mesh.tpGroup(7));
        assertEquals(List.of(7, 10), mesh.dpGroup(7));
        assertEquals(List.of(1, 7), mesh.ppGroup(7));
        assertEquals(OptionalInt.of(1), mesh.pipelinePrevious(7));
        assertEquals(OptionalInt.empty(), mesh.pipelineNext(7));
        assertEquals(OptionalInt.of(7), mesh.pipelineNext(1));
        assertEquals(OptionalInt.empty(), mesh.pipelinePrevious(1));
        for (int r = 0; r < mesh.size(); r++) {
            DeviceMesh.Coordinates c = mesh.coordinates(r);
            assertEquals(r, c.pp() * 6 + c.dp() * 3 + c.tp());
            assertEquals(r, mesh.rank(c));
        }
    }

    @Test
    void eachKindOfGroupPartitionsTheWorld() {
        DeviceMesh mesh = new DeviceMesh(3, 2, 2);
        for (List<List<Integer>> groups : List.of(mesh.tpGroups(), mesh.dpGroups(), mesh.ppGroups())) {
            Set<Integer> seen = new HashSet<>();
            groups.forEach(seen::addAll);
            assertEquals(mesh.size(), seen.size());
            assertEquals(mesh.size(), groups.stream().mapToInt(List::size).sum());
        }
        assertEquals(List.of(List.of(0, 1), List.of(2, 3), List.of(4, 5), List.of(6, 7), List.of(8, 9),
                List.of(10, 11)), mesh.tpGroups());
        assertEquals(List.of(List.of(0, 2, 4), List.of(1, 3, 5), List.of(6, 8, 10), List.of(7, 9, 11)),
                mesh.dpGroups());
        assertEquals(6, mesh.ppGroups().size());
    }

    @Test
    void aMeshThatDoesNotFitTheWorldSaysHow() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceMesh.of(2, 2, 3, 8));
        assertTrue(e.getMessage().startsWith("dp=2 × pp=2 × tp=3 = 12 ranks, but the world has 8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DeviceMesh(0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new DeviceMesh(2, 1, 1).coordinates(2));
    }

    @Test
    void printsAsATable() {
        String table = new DeviceMesh(2, 2, 2).table();
        List<String> lines = table.lines().toList();
        assertEquals("dp=2 × pp=2 × tp=2 = 8 ranks (rank = pp·4 + dp·2 + tp)", lines.get(0));
        assertEquals("rank  pp  dp  tp  tp group  dp group  pp group", lines.get(1).stripTrailing());
        assertEquals("   5   1   0   1  [4, 5]    [5, 7]    [1, 5]", lines.get(7).stripTrailing());
        assertEquals(10, lines.size());
    }

    @Test
    @Timeout(30)
    void groupsOfA2x2x2MeshReduceOverTheirOwnRanks() {
        DeviceMesh mesh = new DeviceMesh(2, 2, 2);
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(8, OPTIONS, world -> {
                int r = world.rank();
                try (MeshGroups groups = mesh.groups(world);
                     Tensor tp = filled(allocator, r);
                     Tensor dp = filled(allocator, r);
                     Tensor pp = filled(allocator, r)) {
                    DeviceMesh.Coordinates c = mesh.coordinates(r);
                    assertEquals(c, groups.coordinates());
                    assertEquals(List.of(c.tp(), c.dp(), c.pp()),
                            List.of(groups.tp().rank(), groups.dp().rank(), groups.pp().rank()));
                    assertEquals("tp[pp=" + c.pp() + ",dp=" + c.dp() + "]", groups.tp().name());
                    // Overlapping: the three groups' all-reduces run at once on their own threads.
                    List<Work> works = new ArrayList<>();
                    works.add(groups.tp().allReduceAsync(tp, tp, ReduceOp.SUM));
                    works.add(groups.dp().allReduceAsync(dp, dp, ReduceOp.SUM));
                    works.add(groups.pp().allReduceAsync(pp, pp, ReduceOp.SUM));
                    works.forEach(Work::await);
                    assertEquals(sumOf(mesh.tpGroup(r)), tp.toFloatArray(world.stream())[0]);
                    assertEquals(sumOf(mesh.dpGroup(r)), dp.toFloatArray(world.stream())[100]);
                    assertEquals(sumOf(mesh.ppGroup(r)), pp.toFloatArray(world.stream())[0]);
                    // Activations go down the pipeline inside the pp group.
                    int stage = groups.pp().rank();
                    if (stage == 0) {
                        groups.pp().send(tp, 1);
                    } else {
                        try (Tensor got = filled(allocator, -1)) {
                            groups.pp().recv(got, 0);
                            assertEquals(sumOf(mesh.tpGroup(mesh.pipelinePrevious(r).orElseThrow())),
                                    got.toFloatArray(world.stream())[0]);
                        }
                    }
                    assertEquals(1, groups.tp().stats().calls(OpType.ALL_REDUCE));
                    assertEquals(3, world.stats().calls(OpType.SPLIT));
                }
                return null;
            });
        }
    }

    private static Tensor filled(HostAllocator allocator, int rank) {
        Tensor t = Tensor.allocate(allocator, DType.FP32, Shape.of(101), MemoryCategory.ACTIVATIONS, "t" + rank,
                TestData.CPU);
        t.fill(rank + 1, TestData.CPU);
        return t;
    }

    private static float sumOf(List<Integer> ranks) {
        return ranks.stream().mapToInt(q -> q + 1).sum();
    }
}
