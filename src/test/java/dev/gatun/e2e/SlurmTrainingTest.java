package dev.gatun.e2e;

import dev.gatun.bindings.Mpi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real single-node Slurm cluster, started by the test from Debian's packages ({@code slurm-wlm}, {@code munge}):
 * munge, {@code slurmctld} and {@code slurmd} on ports of their own with a configuration in a temporary folder; then
 * {@code srun -n 4 --mpi=pmix gatun train --dp 2 --tp 2}, whose ranks find themselves in Slurm's variables and talk
 * over Open MPI (direct launch through PMIx), equals the one-rank run. Skipped with the reason where Slurm, munge,
 * Open MPI or root are missing.
 */
@Timeout(300)
class SlurmTrainingTest {
    private static Path dir;
    private static final List<Process> DAEMONS = new ArrayList<>();
    private static boolean startedMunge;

    private static boolean exists(String path) {
        return Files.isExecutable(Path.of(path));
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }

    @BeforeAll
    static void startACluster() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "the daemons are started as root");
        assumeTrue(exists("/usr/sbin/slurmctld") && exists("/usr/sbin/slurmd") && Jobs.onPath("srun"),
                "no Slurm: install Debian's slurm-wlm (and munge)");
        assumeTrue(exists("/usr/sbin/munged") && Files.exists(Path.of("/etc/munge/munge.key")), "no munge key");
        assumeTrue(Mpi.isAvailable(), "libmpi cannot be loaded: " + Mpi.unavailableReason());
        dir = Files.createTempDirectory("gatun-slurm");
        for (String d : List.of("state", "spool", "log")) {
            Files.createDirectories(dir.resolve(d));
        }
        String host = run("hostname", "-s").strip();
        int cpus = Runtime.getRuntime().availableProcessors();
        Files.writeString(dir.resolve("slurm.conf"), String.join("\n",
                "ClusterName=gatuntest", "SlurmctldHost=" + host, "SlurmctldPort=16817", "SlurmdPort=16818",
                "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
                "StateSaveLocation=" + dir.resolve("state"), "SlurmdSpoolDir=" + dir.resolve("spool"),
                "SlurmctldPidFile=" + dir.resolve("slurmctld.pid"), "SlurmdPidFile=" + dir.resolve("slurmd.pid"),
                "SlurmctldLogFile=" + dir.resolve("log/slurmctld.log"),
                "SlurmdLogFile=" + dir.resolve("log/slurmd.log"), "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none", "SchedulerType=sched/builtin", "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core", "MpiDefault=pmix", "ReturnToService=2",
                "NodeName=" + host + " CPUs=" + cpus + " State=UNKNOWN",
                "PartitionName=test Nodes=" + host + " Default=YES MaxTime=INFINITE State=UP", ""));
        if (!run("sh", "-c", "munge -n | unmunge").contains("Success")) {
            Files.createDirectories(Path.of("/run/munge"));
            run("chown", "munge:munge", "/run/munge");
            run("su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged");
            startedMunge = true;
        }
        for (String daemon : List.of("/usr/sbin/slurmctld", "/usr/sbin/slurmd")) {
            DAEMONS.add(new ProcessBuilder(daemon, "-D", "-f", dir.resolve("slurm.conf").toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("log/" + Path.of(daemon).getFileName()
                            + ".out").toFile()).start());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (sinfo().strip().equals("idle")) {
                return;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("the Slurm node did not come up within 60 s: sinfo says '" + sinfo() + "'; logs in "
                + dir.resolve("log"));
    }

    private static String sinfo() throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("sinfo", "-h", "-o", "%t").redirectErrorStream(true);
        pb.environment().put("SLURM_CONF", dir.resolve("slurm.conf").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }

    @AfterAll
    static void stopTheCluster() throws Exception {
        for (Process p : DAEMONS) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        if (startedMunge) {
            run("pkill", "-x", "munged");
        }
    }

    @Test
    void srunOfFourTasksTrainsAsOneRank() throws Exception {
        Path out = dir.resolve("srun");
        List<String> cmd = new ArrayList<>(List.of("srun", "-n", "4", "-O", "--mpi=pmix"));
        cmd.addAll(Jobs.gatun("train", "--dp", "2", "--tp", "2", "--layers", "4", "--steps", "3", "--out",
                out.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("SLURM_CONF", dir.resolve("slurm.conf").toString());
        Path log = dir.resolve("log/srun.out");
        Process p = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(240, TimeUnit.SECONDS), "srun did not end within 240 s: " + Files.readString(log));
        String text = Files.readString(log);
        assertEquals(0, p.exitValue(), text);
        assertTrue(text.contains("of 4 processes (Slurm (srun)), on the CPU, MPI between them"), text);
        Cli.Run one = Cli.run("train", "--layers", "4", "--steps", "3", "--out", dir.resolve("one").toString());
        assertEquals(0, one.exit(), one.out() + one.err());
        double[] want = Jobs.losses(dir.resolve("one/metrics.jsonl"));
        double[] got = Jobs.losses(out.resolve("metrics.jsonl"));
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 2e-5 * Math.abs(want[i]), "step " + i);
        }
    }
}
