/**
 * The {@code gatun} command line, a thin shell over the library ({@link GatunCli}, on picocli): {@code info} (native
 * libraries and devices), {@code train} ({@link TrainCommand}: the GPT in any {@code dp × tp × pp × ZeRO} layout on CPU
 * threads or GPUs, after checking that the run fits in memory), {@code comm-bench}, {@code bench} ({@code gemm},
 * {@code comm}, {@code train}, {@code kernels}), {@code launch} (torchrun-style local processes) and
 * {@code rendezvous-check}. Every failure ends in one line on stderr, never a stack trace: exit code 2 for bad input, 1
 * for a failure during the run.
 */
package dev.gatun.cli;
