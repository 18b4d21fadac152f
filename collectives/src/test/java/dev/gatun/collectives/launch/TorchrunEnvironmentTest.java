package dev.gatun.collectives.launch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class TorchrunEnvironmentTest {
    /** Rank 5 of 8, two nodes of four, with the given variables replaced ({@code null} removes one). */
    private static Map<String, String> env(String... overrides) {
        Map<String, String> env = new HashMap<>(Map.of("RANK", "5", "WORLD_SIZE", "8", "LOCAL_RANK", "1",
                "LOCAL_WORLD_SIZE", "4", "MASTER_ADDR", "node0.example", "MASTER_PORT", "29500"));
        for (int i = 0; i < overrides.length; i += 2) {
            if (overrides[i + 1] == null) {
                env.remove(overrides[i]);
            } else {
                env.put(overrides[i], overrides[i + 1]);
            }
        }
        return env;
    }

    private static String error(String... overrides) {
        return assertThrows(IllegalArgumentException.class, () -> TorchrunEnvironment.from(env(overrides)))
                .getMessage();
    }

    @Test
    void readsTorchrunVariablesAndDerivesTheNode() {
        TorchrunEnvironment e = TorchrunEnvironment.from(env("GATUN_JOB_TOKEN", "s3cret"));
        assertEquals(new TorchrunEnvironment(5, 8, 1, 4, "node0.example", 29500, "s3cret"), e);
        assertEquals(1, e.nodeRank());
        assertEquals(2, e.nodeCount());
    }

    @Test
    void tokenIsOptionalAndNeverPrinted() {
        assertEquals("", TorchrunEnvironment.from(env()).jobToken());
        String shown = TorchrunEnvironment.from(env("GATUN_JOB_TOKEN", "s3cret")).toString();
        assertFalse(shown.contains("s3cret"), shown);
        assertTrue(shown.contains("rank=5") && shown.contains("<set>"), shown);
    }

    @Test
    void variablesReadBack() {
        var e = new TorchrunEnvironment(3, 4, 3, 4, "127.0.0.1", 1234, "t");
        assertEquals(e, TorchrunEnvironment.from(e.toVariables()));
    }

    @Test
    void isPresentWhenRankOrWorldSizeIsSet() {
        assertTrue(TorchrunEnvironment.isPresent(env()));
        assertTrue(TorchrunEnvironment.isPresent(Map.of("WORLD_SIZE", "2")));
        assertFalse(TorchrunEnvironment.isPresent(Map.of("MASTER_ADDR", "x", "PATH", "/bin")));
    }

    @Test
    void eachMissingVariableIsNamed() {
        for (String name : new String[]{"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                "MASTER_PORT"}) {
            assertTrue(error(name, null).startsWith(name + " is not set;"), name);
        }
    }

    @Test
    void nonNumbersAreNamedWithTheirValue() {
        assertEquals("RANK='five' is not an integer", error("RANK", "five"));
        assertEquals("MASTER_PORT=' 29500' is not an integer", error("MASTER_PORT", " 29500"));
    }

    @Test
    void inconsistentLayoutsAreRejectedWithTheValues() {
        assertEquals("RANK=5 must be < WORLD_SIZE=4", error("WORLD_SIZE", "4"));
        assertEquals("RANK=-1 must be >= 0", error("RANK", "-1"));
        assertEquals("WORLD_SIZE=0 must be >= 1", error("WORLD_SIZE", "0"));
        assertEquals("LOCAL_WORLD_SIZE=0 must be in [1, WORLD_SIZE=8]", error("LOCAL_WORLD_SIZE", "0"));
        assertEquals("LOCAL_WORLD_SIZE=3 must divide WORLD_SIZE=8 (every node runs the same number of processes)",
                error("LOCAL_WORLD_SIZE", "3"));
        assertEquals("LOCAL_RANK=4 must be < LOCAL_WORLD_SIZE=4", error("LOCAL_RANK", "4"));
        assertEquals("LOCAL_RANK=2 must equal RANK % LOCAL_WORLD_SIZE = 5 % 4 = 1 (ranks are numbered node by node)",
                error("LOCAL_RANK", "2"));
        assertEquals("MASTER_ADDR=' ' must name rank 0's host", error("MASTER_ADDR", " "));
        assertEquals("MASTER_PORT=0 must be in [1, 65535]", error("MASTER_PORT", "0"));
        assertEquals("MASTER_PORT=65536 must be in [1, 65535]", error("MASTER_PORT", "65536"));
        assertTrue(error("GATUN_JOB_TOKEN", "x".repeat(2000)).startsWith("GATUN_JOB_TOKEN has 2000 bytes"));
    }
}
