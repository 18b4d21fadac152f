package dev.gatun.gpt.data;

import java.util.SplittableRandom;

/**
 * A synthetic corpus of small sums and products, one equation per line: {@code "37+45=82\n"}, {@code "9*7=63\n"}.
 *
 * <p>This is the trainer's default corpus. It needs no download and is learnable by a small model in few steps:
 * the digits after {@code '='} are a function of the digits before it, so the loss visibly falls well below the
 * entropy of random digits, which makes it a quick end-to-end check that training works.
 *
 * <p>Each line is, with equal probability, {@code a+b=a+b} with {@code a, b} uniform in {@code [0, 99]} or
 * {@code a*b=a·b} with {@code a, b} uniform in {@code [0, 12]}. The text depends only on {@code (seed, lines)}.
 */
public final class ArithmeticCorpus {
    private ArithmeticCorpus() {
    }

    /**
     * Generates {@code lines} equations, each terminated by {@code '\n'}, drawn from
     * {@code new SplittableRandom(seed)}.
     *
     * @throws IllegalArgumentException if {@code lines} is negative
     */
    public static String generate(long seed, int lines) {
        if (lines < 0) {
            throw new IllegalArgumentException("lines=" + lines + " must be >= 0");
        }
        SplittableRandom random = new SplittableRandom(seed);
        StringBuilder text = new StringBuilder(lines * 9);
        for (int i = 0; i < lines; i++) {
            if (random.nextBoolean()) {
                int a = random.nextInt(100);
                int b = random.nextInt(100);
                text.append(a).append('+').append(b).append('=').append(a + b).append('\n');
            } else {
                int a = random.nextInt(13);
                int b = random.nextInt(13);
                text.append(a).append('*').append(b).append('=').append(a * b).append('\n');
            }
        }
        return text.toString();
    }
}
