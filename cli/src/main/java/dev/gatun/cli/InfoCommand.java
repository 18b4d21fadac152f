package dev.gatun.cli;

import dev.gatun.bindings.NativeInventory;
import dev.gatun.bindings.NativeInventory.DeviceInfo;
import dev.gatun.bindings.NativeInventory.LibraryStatus;
import dev.gatun.bindings.NativeLibrary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code gatun info}: Java, each native library (where and which version, or why not), the CUDA devices, NCCL. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the Java runtime, the native libraries found, the CUDA devices and the NCCL version.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("Java:    %s (%s), %s%n", Runtime.version(), System.getProperty("java.vendor"),
                System.getProperty("java.home"));
        NativeInventory inventory = NativeInventory.probe();
        out.println("Native libraries:");
        for (LibraryStatus s : inventory.libraries()) {
            String name = String.format(Locale.ROOT, "  %-13s", s.library().displayName());
            if (s.loaded() != null) {
                out.printf("%s %s  version %s  (found by %s)%n", name, s.loaded().path(),
                        s.version().isEmpty() ? "unknown: " + s.problem() : s.version(), s.loaded().how());
            } else {
                out.printf("%s not found: %s%n", name, indent(s.problem()));
            }
        }
        out.println("CUDA devices:");
        if (inventory.devices().isEmpty()) {
            out.printf("  no CUDA device: %s%n", indent(inventory.noDeviceReason()));
        }
        for (DeviceInfo d : inventory.devices()) {
            out.printf(Locale.ROOT, "  [%d] %s, %.1f GiB, compute capability %s, %d SMs%n", d.ordinal(), d.name(),
                    d.totalMemoryBytes() / (double) (1L << 30), d.computeCapability(), d.multiprocessors());
        }
        LibraryStatus nccl = inventory.libraries().get(NativeLibrary.NCCL.ordinal());
        out.printf("NCCL:    %s%n", nccl.loaded() != null ? nccl.version()
                : "not available (" + NativeLibrary.NCCL.sonames().getFirst() + " not found)");
        out.flush();
        return 0;
    }

    private static String indent(String text) {
        return text.replace("\n", "\n                ");
    }
}
