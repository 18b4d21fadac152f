/**
 * The MPI backend of the {@link dev.gatun.collectives.Communicator}: {@link MpiCommunicator}, one rank per process
 * (started by {@code mpirun} or {@code srun}) on host tensors, through Open MPI's nonblocking calls bound with Panama
 * ({@link dev.gatun.bindings.Mpi}); a call that outlives the timeout names itself and the ranks, then ends the job
 * with {@code MPI_Abort}.
 */
package dev.gatun.collectives.mpi;
