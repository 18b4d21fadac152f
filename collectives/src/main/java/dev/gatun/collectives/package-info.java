/**
 * Collective communication with NCCL's semantics on {@link dev.gatun.memory.Tensor}s: the {@link Communicator}
 * (all-reduce, reduce-scatter, all-gather, broadcast, reduce, send/recv; each call a {@link CommOp} value, an
 * asynchronous one a {@link Work}), its in-process backend {@link InProcessWorld} (ranks as threads of one JVM,
 * reductions in rank order) and the 3D layout {@link DeviceMesh}, {@code rank = pp_i·(dp·tp) + dp_i·tp + tp_i} with tp
 * innermost, whose {@link MeshGroups} are a rank's communicators. On top: DDP's bucketed {@link GradientReducer}
 * ({@link BucketPlan}), {@link TensorFusion} and {@link HierarchicalAllReduce}. Every wait is bounded: a call fails on
 * every rank with a {@link CollectiveException} (timeout, mismatch, abort) naming the ranks and their recent calls.
 */
package dev.gatun.collectives;
