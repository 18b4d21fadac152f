/**
 * Pipeline-parallel schedules as data: what each rank does, in which order, checked and measured before anything
 * runs (after PyTorch's {@code torch.distributed.pipelining} schedules: actions with a printable form, lowering passes
 * as plain functions, a validator that prints the grid).
 *
 * <h2>Flow</h2>
 * <pre>{@code
 * Schedule compute = Schedules.interleaved1F1B(p, m, v);      // compute actions only: 2F0, 1B3, ...
 * Schedule lowered = SendRecvLowering.lower(compute);           // + SEND_F/RECV_F/SEND_B/RECV_B, deadlock-free
 * Timeline t = ScheduleSimulator.validate(lowered);             // throws InvalidScheduleException with the grid
 * t.bubbleFraction(rank); t.peakInFlight(stage);                // figures from the simulated run
 * String svg = GanttChart.svg(t);                               // or simulate(lowered, CostModel.measured(...))
 * StagePartition layers = StagePartitioner.balance(layerCosts, p * v);
 * }</pre>
 *
 * <h2>What an executor does with a lowered, validated schedule</h2>
 * Rank {@code r} of the pipeline group walks {@code schedule.steps(r)} in order, never reordering, merging or
 * splitting steps; stage {@code s} is model chunk {@code schedule.chunkOf(s)} of rank {@code schedule.rankOf(s)}.
 * Buffers are keyed by {@code (stage, micro-batch)}.
 * <ul>
 *   <li>{@link dev.gatun.pipeline.Step.Compute} {@code sFmb}: input = micro-batch {@code mb}'s data if {@code s = 0};
 *       else the output of {@code (s−1)Fmb} if stage {@code s−1} is on this rank; else the tensor received by
 *       {@code sRECV_Fmb}. Run chunk {@code s}'s forward; keep its activations for {@code (s, mb)}; keep its output
 *       for {@code (s+1)Fmb} (same rank) or {@code sSEND_Fmb}; on the last stage it is the loss.</li>
 *   <li>{@code Compute sBmb}: output gradient = from the loss on the last stage; else the input gradient made by
 *       {@code (s+1)Bmb} (same rank); else the tensor received by {@code sRECV_Bmb}. Run the backward, free the
 *       activations of {@code (s, mb)}, keep the input gradient for {@code (s−1)Bmb} (same rank) or
 *       {@code sSEND_Bmb} (none on stage 0).</li>
 *   <li>{@link dev.gatun.pipeline.Step.Group}: one grouped call, operations issued in list order — group start;
 *       {@code sSEND_Fmb}: send the forward output of {@code (s, mb)} to rank {@code rankOf(s+1)};
 *       {@code sRECV_Fmb}: receive the input of {@code (s, mb)} from {@code rankOf(s−1)}; {@code sSEND_Bmb}: send the
 *       input gradient of {@code (s, mb)} to {@code rankOf(s−1)}; {@code sRECV_Bmb}: receive the output gradient of
 *       {@code (s, mb)} from {@code rankOf(s+1)}; group end — then wait until every operation of the group has
 *       completed (on a device: make the compute stream wait for it) before the next step. Sent buffers may be
 *       freed after that.</li>
 * </ul>
 * The validator guarantees, under these rules with blocking (rendezvous) point-to-point operations: every receive has
 * its send, sends and receives between two ranks are issued in the same order (NCCL pairs them in issue order, with
 * no tags), every input is local when a compute starts, every activation is freed exactly once, and no deadlock.
 */
package dev.gatun.pipeline;
