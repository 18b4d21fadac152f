package dev.gatun.e2e;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.NativeLibraries;
import dev.gatun.bindings.NativeLibrary;
import dev.gatun.cli.GatunCli;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The main job until the trainer lands: {@code gatun info} reports Java, every native library, devices, NCCL. */
class InfoCommandTest {

    @Test
    void infoReportsJavaEveryLibraryTheDevicesAndNccl() {
        StringWriter out = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setOut(new PrintWriter(out));
        assertEquals(0, cli.execute("info"));
        String text = out.toString();

        assertTrue(text.startsWith("Java:    " + Runtime.version()), text);
        for (NativeLibrary library : NativeLibrary.values()) {
            assertTrue(text.contains("  " + library.displayName()), "no line for " + library + ":\n" + text);
        }
        if (Cuda.isAvailable()) {
            assertTrue(text.contains("  [0] "), text);
        } else {
            assertTrue(text.contains("no CUDA device: " + Cuda.unavailableReason().lines().findFirst().orElseThrow()),
                    text);
        }
        assertTrue(text.contains("\nNCCL:    "), text);
        if (NativeLibraries.failure(NativeLibrary.CUDA_DRIVER).isPresent()) { // no driver: say so once, nothing else
            assertTrue(text.contains("no CUDA device: no CUDA driver installed (libcuda.so.1 cannot be loaded)"), text);
            assertFalse(text.contains("insufficient"), text);
        }
    }

    @Test
    void unknownCommandsAreRefusedWithUsage() {
        StringWriter err = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setErr(new PrintWriter(err));
        assertEquals(2, cli.execute("trian"));
        assertTrue(err.toString().contains("Unmatched argument"), err.toString());
    }
}
