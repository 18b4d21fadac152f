package dev.gatun.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code gatun bench}: quick measurements on this machine. {@code gemm} times the CPU backend's GEMM, {@code comm} is
 * {@code gatun comm-bench} under another name (same options, same table), {@code train} measures training throughput
 * over in-process ranks or local GPUs and its scaling, {@code kernels} times the NVRTC compile of the CUDA kernels.
 * Without a subcommand it prints its usage.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, modelTransformer = BenchCommand.CommAlias.class,
        description = "Quick benchmarks on this machine: gemm, comm (= comm-bench), train, kernels.",
        subcommands = {GemmBenchCommand.class, TrainBenchCommand.class, KernelBenchCommand.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /**
     * Adds {@link CommBenchCommand} as {@code bench comm}. The annotation's {@code subcommands} would register it under
     * its own name ({@code comm-bench}), so the alias is added to the model once it is built.
     */
    static final class CommAlias implements CommandLine.IModelTransformer {
        @Override
        public CommandSpec transform(CommandSpec bench) {
            return bench.addSubcommand("comm", new CommandLine(new CommBenchCommand()));
        }
    }
}
