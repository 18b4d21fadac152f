/**
 * Communication benchmarks: {@link CollectiveSweep} times all-reduce, reduce-scatter or all-gather over a range of
 * message sizes on any {@link dev.gatun.collectives.Communicator}, as nccl-tests does, and reports {@code algbw = S/t}
 * and {@code busbw = algbw·factor(n)} with the bus factors {@code 2(n−1)/n} (all-reduce) and {@code (n−1)/n}
 * (reduce-scatter, all-gather), so that busbw compares with a link's bandwidth whatever {@code n}.
 */
package dev.gatun.collectives.bench;
