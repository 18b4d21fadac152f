/**
 * The training engine, which knows nothing of the model: a {@link Model} plugs in as per-stage lists of {@link Layer}s
 * with explicit forward and backward, whose parameters depend only on the seed, their name and global index (so every
 * layout trains the same model), each stage's output the next one's input and the last stage's output going to its
 * {@link ModelLoss}. {@link Training} runs it in a {@link ParallelLayout} (dp, tp, pp, ZeRO stage, schedule) with
 * {@link TrainOptions} on the ranks of a {@link RankPlacement} (CPU threads, local GPUs, a torchrun process), taking
 * each step's {@link Batch} from a {@link DataSource}; each rank is a {@link RankTrainer} (pipeline over pp, ZeRO over
 * dp), and each step reports its {@link StepMetrics}.
 */
package dev.gatun.train;
