/**
 * The math of a training step behind one interface: a {@link Backend} gives GEMM and the GPT layer kernels on one
 * device and stream, each with an explicit forward and backward (no autograd), implemented by
 * {@link dev.gatun.ops.cpu.CpuBackend} and {@link dev.gatun.ops.cuda.CudaBackend}. A {@link GemmSpec} describes a GEMM
 * {@code C = alpha·op(A)·op(B) + beta·C} apart from its buffers ({@link MatrixLayout}, {@link Transpose}), and
 * {@link OpChecks} and {@link VocabChecks} hold the argument checks the backends share, so they accept and reject the
 * same calls; {@link AdamWStep} and {@link VocabSlice} parameterise the optimizer and vocabulary-parallel kernels. The
 * contract: callers allocate every output; activations and their gradients are overwritten, parameter gradients
 * accumulated ({@code +=}).
 */
package dev.gatun.ops;
