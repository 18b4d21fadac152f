/**
 * The {@link dev.gatun.collectives.Communicator} over NCCL, one rank per GPU: {@link NcclCommunicator} enqueues every
 * call on the rank's CUDA stream and runs asynchronous ones on a communication stream that waits for the rank's stream
 * through an event, never a host sync. It does not hang: a watchdog aborts the communicator when a call outlives the
 * timeout or NCCL reports an asynchronous error. Communicators are made for all local GPUs at once
 * ({@link NcclCommunicator#initAll initAll}) or one per process ({@code initRank}, the unique id shared through the
 * rendezvous store).
 */
package dev.gatun.collectives.nccl;
