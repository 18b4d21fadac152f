/**
 * Multi-process jobs as torchrun runs them: {@link TorchrunEnvironment} reads a process's place from {@code RANK},
 * {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code MASTER_ADDR} and {@code MASTER_PORT}; {@link LocalLauncher} starts N
 * local processes with those variables and stops the others when one fails ({@link LaunchResult}). Rank 0 hosts the
 * job's key-value store, {@link RendezvousServer} (a {@code TCPStore} guarded by a job token), which every rank reaches
 * through {@link RendezvousClient} and {@link RendezvousStore} (exchange, barrier, broadcast of the NCCL unique id).
 * Every wait is bounded; failures are {@link RendezvousException}s naming the address, the operation and the key.
 */
package dev.gatun.collectives.launch;
