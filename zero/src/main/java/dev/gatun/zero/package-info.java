/**
 * ZeRO (Rajbhandari et al.) over a data-parallel group of N ranks: {@link ZeroOptimizer} runs AdamW
 * ({@link AdamWConfig}) on each rank's {@link Shard} of the flat buffers ({@link FlatLayout}, {@link FlatBuffer}), with
 * global-norm {@link Clipping}, a {@link PrecisionPolicy} and, for fp16, a {@link DynamicLossScaler}. {@link ZeroStage}
 * says what is partitioned: with Ψ parameters, 2-byte parameters and gradients and K optimizer-state bytes per
 * parameter, a rank holds {@code (2+2+K)Ψ} bytes of model state without ZeRO, {@code (2+2)Ψ + KΨ/N} with stage 1,
 * {@code 2Ψ + (2+K)Ψ/N} with stage 2 and {@code (2+2+K)Ψ/N} with stage 3.
 */
package dev.gatun.zero;
