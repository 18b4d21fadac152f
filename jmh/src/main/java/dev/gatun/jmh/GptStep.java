package dev.gatun.jmh;

import dev.gatun.gpt.checkpoint.HuggingFaceGpt2;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.train.Batch;
import dev.gatun.train.HostArray;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.RankTrainer;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.zero.PrecisionPolicy;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * One rank training a GPT-2-style model on the CPU backend, the step that {@link GptStepBenchmark} times and
 * {@code jmh/gpt2-vs-torch.sh} runs in PyTorch too: fp32, AdamW (lr 3·10⁻⁴, β 0.9/0.999, ε 10⁻⁸, no weight decay),
 * gradients clipped to norm 1, a fixed batch of {@link #BATCH} sequences of {@link #SEQ} random token ids.
 *
 * <p>{@code main(preset, dir)} writes what PyTorch needs to run the same step: {@code dir/weights.safetensors} (the
 * seeded initial weights under Hugging Face GPT-2 names) and {@code dir/batch.bin} (the inputs, then the targets, as
 * little-endian int32), and prints {@code loss L}: the loss of that batch on those weights, which the PyTorch model
 * must reproduce.
 */
public final class GptStep implements AutoCloseable {
    static final int BATCH = 4;
    static final int SEQ = 64;
    private static final long SEED = 1337;

    private final GptConfig config;
    private final int examples;
    private final int seq;
    private final CpuBackend backend = new CpuBackend();
    private final HostAllocator allocator = HostAllocator.caching();
    private final RankTrainer trainer;
    private final Batch batch;
    private long step;

    GptStep(String preset) {
        this(preset, BATCH, SEQ, RecomputePlan.NONE);
    }

    /** {@code examples} sequences of {@code seq} tokens per step, activations recomputed as {@code recompute} says. */
    GptStep(String preset, int examples, int seq, RecomputePlan recompute) {
        config = switch (preset) {
            case "tiny" -> new GptConfig(2, 4, 64, seq, 256, true);
            case "gpt2" -> new GptConfig(12, 12, 768, seq, 50257, true);
            default -> throw new IllegalArgumentException("preset must be tiny or gpt2, got " + preset);
        };
        this.examples = examples;
        this.seq = seq;
        TrainOptions options = new TrainOptions(PrecisionPolicy.FP32,
                new LearningRateSchedule(3e-4, 3e-4, 0, Long.MAX_VALUE), 1f, 0f, SEED, examples)
                .withRecompute(recompute);
        trainer = RankTrainer.alone(new GptModel(config), options, backend, allocator);
        SplittableRandom random = new SplittableRandom(SEED);
        int[] inputs = random.ints(examples * seq, 0, config.vocab()).toArray();
        int[] targets = random.ints(examples * seq, 0, config.vocab()).toArray();
        batch = new Batch(HostArray.ofInts(inputs, examples, seq), HostArray.ofInts(targets, examples, seq));
    }

    /** The peak bytes of activations the allocator has booked so far. */
    long peakActivationBytes() {
        return allocator.accountant().report().usage(MemoryCategory.ACTIVATIONS).peakBytes();
    }

    /** One training step on the fixed batch; returns its loss, which must be finite (a broken step is no fast one). */
    double step() {
        double loss = trainer.step(step++, batch).loss().orElseThrow();
        if (!Double.isFinite(loss)) {
            throw new IllegalStateException("the step's loss is " + loss);
        }
        return loss;
    }

    /** Writes the weights and the batch for PyTorch; returns the loss of the batch on them (no step is taken). */
    double export(Path dir) throws IOException {
        Files.createDirectories(dir);
        ModelWeights weights = new ModelWeights();
        trainer.contributeWeights(weights);
        HuggingFaceGpt2.export(config, weights, dir.resolve("weights.safetensors"));
        ByteBuffer bytes = ByteBuffer.allocate(2 * examples * seq * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asIntBuffer().put(batch.inputs().ints()).put(batch.targets().ints());
        Files.write(dir.resolve("batch.bin"), bytes.array());
        return trainer.evaluate(batch, false).loss().orElseThrow();
    }

    @Override
    public void close() {
        trainer.close();
        allocator.close();
        backend.close();
    }

    /** {@code GptStep tiny|gpt2 DIR}: the files for PyTorch and the loss line. */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            throw new IllegalArgumentException("usage: GptStep tiny|gpt2 DIR");
        }
        try (GptStep s = new GptStep(args[0])) {
            System.out.println("loss " + s.export(Path.of(args[1])));
        }
    }
}
