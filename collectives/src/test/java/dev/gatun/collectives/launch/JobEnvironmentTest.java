package dev.gatun.collectives.launch;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JobEnvironmentTest {
    @Test
    void eachLauncherIsReadFromItsOwnVariables() {
        assertEquals(new JobEnvironment(JobEnvironment.Launcher.TORCHRUN, 3, 8, 1, 2, "10.0.0.1"),
                JobEnvironment.detect(Map.of("RANK", "3", "WORLD_SIZE", "8", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE",
                        "2", "MASTER_ADDR", "10.0.0.1")).orElseThrow());
        assertEquals(new JobEnvironment(JobEnvironment.Launcher.OPEN_MPI, 2, 4, 2, 4, ""),
                JobEnvironment.detect(Map.of("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4",
                        "OMPI_COMM_WORLD_LOCAL_RANK", "2", "OMPI_COMM_WORLD_LOCAL_SIZE", "4")).orElseThrow());
        assertEquals(new JobEnvironment(JobEnvironment.Launcher.PMI, 1, 2, 1, 2, ""),
                JobEnvironment.detect(Map.of("PMI_RANK", "1", "PMI_SIZE", "2", "MPI_LOCALRANKID", "1",
                        "MPI_LOCALNRANKS", "2")).orElseThrow());
        assertEquals(new JobEnvironment(JobEnvironment.Launcher.SLURM, 5, 8, 1, 4, "node03"),
                JobEnvironment.detect(Map.of("SLURM_PROCID", "5", "SLURM_NTASKS", "8", "SLURM_LOCALID", "1",
                        "SLURM_NTASKS_PER_NODE", "4(x2)", "SLURM_STEP_NODELIST", "node[03-04]")).orElseThrow());
        assertEquals(Optional.empty(), JobEnvironment.detect(Map.of("HOME", "/root")));
    }

    @Test
    void mpirunInsideASlurmAllocationIsOpenMpisJobAndTwoLaunchersThatDisagreeAreRefused() {
        var underSlurm = JobEnvironment.detect(Map.of("OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4",
                "SLURM_PROCID", "0", "SLURM_NTASKS", "1")).orElseThrow();
        assertEquals(JobEnvironment.Launcher.OPEN_MPI, underSlurm.launcher());
        assertEquals(3, underSlurm.rank());
        var e = assertThrows(IllegalArgumentException.class, () -> JobEnvironment.detect(Map.of("RANK", "0",
                "WORLD_SIZE", "2", "OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2")));
        assertTrue(e.getMessage().contains("torchrun / gatun launch says rank 0 of 2 (RANK, WORLD_SIZE), Open MPI "
                + "(mpirun) says rank 1 of 2"), e.getMessage());
        var bad = assertThrows(IllegalArgumentException.class, () -> JobEnvironment.detect(Map.of(
                "OMPI_COMM_WORLD_RANK", "x", "OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals("OMPI_COMM_WORLD_RANK='x' is not an integer", bad.getMessage());
        var range = assertThrows(IllegalArgumentException.class, () -> JobEnvironment.detect(Map.of(
                "PMI_RANK", "4", "PMI_SIZE", "4")));
        assertTrue(range.getMessage().contains("need 0 <= PMI_RANK < PMI_SIZE"), range.getMessage());
    }

    @Test
    void theFirstHostOfASlurmHostList() {
        assertEquals("node03", JobEnvironment.firstHost("node[03-05,9],gpu1"));
        assertEquals("a", JobEnvironment.firstHost("a,b[1-2]"));
        assertEquals("gpu7", JobEnvironment.firstHost("gpu7"));
        assertEquals("", JobEnvironment.firstHost(""));
        assertThrows(IllegalArgumentException.class, () -> JobEnvironment.firstHost("node[1-2"));
    }
}
