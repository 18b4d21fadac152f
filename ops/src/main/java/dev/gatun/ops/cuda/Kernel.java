package dev.gatun.ops.cuda;

import java.util.Locale;

/**
 * Every CUDA kernel the CUDA backend launches, by source family (one {@code .cu} file under
 * {@code dev/gatun/ops/cuda/} in the resources) and {@code extern "C"} name.
 */
enum Kernel {
    ADD_BIAS(Family.ELEMENTWISE),
    BIAS_BACKWARD(Family.ELEMENTWISE),
    ADD(Family.ELEMENTWISE),
    SCALE(Family.ELEMENTWISE),
    GELU_FORWARD(Family.ELEMENTWISE),
    GELU_BACKWARD(Family.ELEMENTWISE),
    SCALE_CHECK_FINITE(Family.ELEMENTWISE),
    SUM_OF_SQUARES_PARTIAL(Family.ELEMENTWISE),
    SUM_OF_SQUARES_FINAL(Family.ELEMENTWISE),
    CAST_F32_BF16(Family.ELEMENTWISE),
    CAST_BF16_F32(Family.ELEMENTWISE),
    CAST_F32_F16(Family.ELEMENTWISE),
    CAST_F16_F32(Family.ELEMENTWISE),
    CAST_BF16_F16(Family.ELEMENTWISE),
    CAST_F16_BF16(Family.ELEMENTWISE),
    ADAMW(Family.ADAMW),
    LAYERNORM_FORWARD(Family.LAYERNORM),
    LAYERNORM_BACKWARD_INPUT(Family.LAYERNORM),
    LAYERNORM_BACKWARD_PARAMS(Family.LAYERNORM),
    SOFTMAX_FORWARD(Family.SOFTMAX),
    SOFTMAX_CAUSAL_FORWARD(Family.SOFTMAX),
    SOFTMAX_CAUSAL_BACKWARD(Family.SOFTMAX),
    PERMUTE_QKV(Family.ATTENTION),
    UNPERMUTE_QKV(Family.ATTENTION),
    UNPERMUTE_HEADS(Family.ATTENTION),
    PERMUTE_HEADS(Family.ATTENTION),
    EMBEDDING_FORWARD(Family.EMBEDDING),
    EMBEDDING_BACKWARD_WPE(Family.EMBEDDING),
    EMBEDDING_BACKWARD_WTE(Family.EMBEDDING),
    VOCAB_EMBEDDING_FORWARD(Family.EMBEDDING),
    VOCAB_EMBEDDING_BACKWARD(Family.EMBEDDING),
    CROSSENTROPY_FORWARD_BACKWARD(Family.CROSSENTROPY),
    VOCAB_LOGIT_STATS(Family.CROSSENTROPY),
    VOCAB_SUM_EXP(Family.CROSSENTROPY),
    VOCAB_CROSSENTROPY(Family.CROSSENTROPY),
    RMSNORM_FORWARD(Family.LLAMA),
    RMSNORM_BACKWARD_INPUT(Family.LLAMA),
    RMSNORM_BACKWARD_PARAMS(Family.LLAMA),
    ROTARY(Family.LLAMA),
    COPY_COLUMNS(Family.LLAMA),
    SWIGLU_FORWARD(Family.LLAMA),
    SWIGLU_BACKWARD(Family.LLAMA);

    /** A source file of kernels: {@code dev/gatun/ops/cuda/<name>.cu}. */
    enum Family {
        ELEMENTWISE, ADAMW, LAYERNORM, SOFTMAX, ATTENTION, EMBEDDING, CROSSENTROPY, LLAMA;

        /** The file name, e.g. {@code layernorm.cu}. */
        String fileName() {
            return name().toLowerCase(Locale.ROOT) + ".cu";
        }
    }

    final Family family;

    Kernel(Family family) {
        this.family = family;
    }

    /** The {@code extern "C"} symbol, e.g. {@code layernorm_forward}. */
    String symbol() {
        return name().toLowerCase(Locale.ROOT);
    }
}
