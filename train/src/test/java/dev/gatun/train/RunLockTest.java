package dev.gatun.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunLockTest {
    @Test
    void aSecondRunOnTheSameFolderFailsNamingTheOwnerUntilTheFirstEnds(@TempDir Path dir) {
        try (RunLock first = RunLock.acquire(dir)) {
            assertTrue(Files.isRegularFile(dir.resolve(RunLock.FILE_NAME)));
            var e = assertThrows(IllegalStateException.class, () -> RunLock.acquire(dir));
            assertTrue(e.getMessage().startsWith(dir + " is in use by another run: pid "
                    + ProcessHandle.current().pid() + " on host "), e.getMessage());
            assertEquals(java.util.Optional.empty(), first.replacedStaleOwner());
        }
        assertFalse(Files.exists(dir.resolve(RunLock.FILE_NAME)), "cleared on close");
        RunLock.acquire(dir).close();
    }

    @Test
    void aLockOfAProcessOfThisHostThatIsGoneIsTakenOver(@TempDir Path dir) throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        String host = InetAddress.getLocalHost().getHostName();
        Files.writeString(dir.resolve(RunLock.FILE_NAME), "pid " + gone.pid() + "\nhost " + host + "\nsince then\n");
        try (RunLock lock = RunLock.acquire(dir)) {
            assertEquals("pid " + gone.pid() + " on host " + host + " since then", lock.replacedStaleOwner().orElseThrow());
        }
    }

    @Test
    void aLockOfAnotherHostIsRespected(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve(RunLock.FILE_NAME), "pid 1\nhost elsewhere.example\nsince then\n");
        var e = assertThrows(IllegalStateException.class, () -> RunLock.acquire(dir));
        assertTrue(e.getMessage().contains("pid 1 on host elsewhere.example") && e.getMessage().contains("delete the lock"),
                e.getMessage());
    }
}
