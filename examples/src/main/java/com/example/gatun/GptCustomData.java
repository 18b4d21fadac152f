package com.example.gatun;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.train.Batch;
import dev.gatun.train.DataSource;
import dev.gatun.train.HostArray;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * GPT-2 from the library, fed from this program's own data pipeline and watched by its own callback: a tiny GPT
 * (bytes as tokens) learns to copy words reversed ("gatun:nutag"), each step's batch made here from a seeded
 * generator, and a callback that keeps every step's loss and learning rate.
 */
public final class GptCustomData {
    private GptCustomData() {
    }

    /** Sequences of {@code seqLen + 1} byte tokens: "word:drow " repeated; step s's batch is seeded by s. */
    static DataSource reversedWords(int batch, int seqLen, long seed) {
        String[] words = {"gatun", "panama", "canal", "lock", "ship", "pipeline", "tensor", "jvm"};
        return step -> {
            Random r = new Random(seed + 1_000_003L * step);
            int[] inputs = new int[batch * seqLen];
            int[] targets = new int[batch * seqLen];
            for (int b = 0; b < batch; b++) {
                StringBuilder text = new StringBuilder();
                while (text.length() <= seqLen) {
                    String w = words[r.nextInt(words.length)];
                    text.append(w).append(':').append(new StringBuilder(w).reverse()).append(' ');
                }
                byte[] bytes = text.toString().getBytes(StandardCharsets.US_ASCII);
                for (int t = 0; t < seqLen; t++) {
                    inputs[b * seqLen + t] = bytes[t];
                    targets[b * seqLen + t] = bytes[t + 1];
                }
            }
            return new Batch(HostArray.ofInts(inputs, batch, seqLen), HostArray.ofInts(targets, batch, seqLen));
        };
    }

    /** A callback of its own: every step's loss and learning rate, as the reporting rank sees them. */
    static final class History implements Consumer<StepMetrics> {
        final List<double[]> steps = new ArrayList<>();

        @Override
        public synchronized void accept(StepMetrics m) {
            steps.add(new double[]{m.loss(), m.learningRate()});
        }
    }

    /** Trains for {@code steps} steps in {@code layout}; the step losses. */
    public static double[] train(ParallelLayout layout, int steps) {
        var model = new GptModel(new GptConfig(2, 4, 32, 32, ByteTokenizer.VOCAB_SIZE, true));
        int batch = 8;
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 2, steps), 1f, 0f,
                11, batch);
        var history = new History();
        new Training(model, layout, options, CommOptions.DEFAULT)
                .run(reversedWords(batch, model.config().seqLen(), 11), steps, history);
        return history.steps.stream().mapToDouble(s -> s[0]).toArray();
    }

    public static void main(String[] args) {
        var layout = new ParallelLayout(2, 2, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B, 1, 1);
        double[] losses = train(layout, 40);
        System.out.printf("GPT on reversed words in %s: loss %.4f -> %.4f over %d steps%n", layout, losses[0],
                losses[losses.length - 1], losses.length);
    }
}
