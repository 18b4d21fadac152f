package dev.gatun.gpt.data;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/**
 * GPT-2's byte-pair encoding ({@code r50k_base}, 50,257 ids, through JTokkit).
 *
 * <p>Text is encoded as ordinary text: a literal {@code <|endoftext|>} in the input becomes the tokens of those
 * characters, never the special id 50256.
 */
public final class Gpt2Tokenizer implements Tokenizer {
    /** GPT-2's vocabulary: 50,000 merges, 256 byte tokens and {@code <|endoftext|>}. */
    public static final int VOCAB_SIZE = 50257;

    /** Loading the rank table takes a moment, so it happens once, on first use. */
    private static final class Holder {
        static final Encoding ENCODING = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }

    @Override
    public String name() {
        return "gpt2";
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int[] encode(String text) {
        return Holder.ENCODING.encodeOrdinary(text).toArray();
    }

    @Override
    public String decode(int[] tokens) {
        IntArrayList list = new IntArrayList(tokens.length);
        for (int i = 0; i < tokens.length; i++) {
            int t = tokens[i];
            if (t < 0 || t >= VOCAB_SIZE) {
                throw new IllegalArgumentException(
                        "token " + t + " at index " + i + " is outside GPT-2's vocabulary; expected an id in [0, "
                                + VOCAB_SIZE + ")");
            }
            list.add(t);
        }
        return Holder.ENCODING.decode(list);
    }

    @Override
    public String toString() {
        return name();
    }
}
