package dev.gatun.cli;

import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.gpt.checkpoint.HuggingFaceGpt2;
import dev.gatun.llama.HuggingFaceLlama;
import dev.gatun.llama.LlamaConfig;
import dev.gatun.llama.LlamaModel;
import dev.gatun.train.MemoryLimit;
import dev.gatun.train.Model;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.zero.PrecisionPolicy;

import java.nio.file.Path;

import java.util.Locale;

/** The model {@code gatun train} trains ({@code --model gpt|llama}), with what the command prints and checks of it. */
sealed interface ModelSpec permits ModelSpec.Gpt, ModelSpec.Llama {
    /** The engine's model. */
    Model model();

    /** Tokens per sequence. */
    int seqLen();

    /** The vocabulary's ids. */
    int vocab();

    /** Training FLOPs per token, for throughput and MFU. */
    double flopsPerToken();

    /** The {@code model} line: the preset and the shape. */
    String describe(String preset, int tp);

    /** Initial weights from a Hugging Face safetensors file of this architecture ({@code --init-hf}). */
    ModelWeights readHuggingFace(Path file);

    /** Writes trained weights as a Hugging Face safetensors file of this architecture ({@code --export-hf}). */
    void exportHuggingFace(ModelWeights weights, Path file);

    /** The memory check of a run of this model in {@code layout}. */
    MemoryFit memory(ParallelLayout layout, PrecisionPolicy policy, int batch, RecomputePlan recompute,
                     MemoryLimit limit);

    /** GPT-2-style ({@code --model gpt}). */
    record Gpt(GptConfig config) implements ModelSpec {
        @Override
        public Model model() {
            return new GptModel(config);
        }

        @Override
        public int seqLen() {
            return config.seqLen();
        }

        @Override
        public int vocab() {
            return config.vocab();
        }

        @Override
        public double flopsPerToken() {
            return config.flopsPerToken();
        }

        @Override
        public String describe(String preset, int tp) {
            return String.format(Locale.ROOT, "%s: %d layers, %d heads, %d wide, context %d, vocab %d (padded %d), %s "
                            + "head, %.2fM parameters", preset, config.layers(), config.heads(), config.channels(),
                    config.seqLen(), config.vocab(), config.paddedVocab(tp), config.tiedHead() ? "tied" : "untied",
                    config.parameterCount() / 1e6);
        }

        @Override
        public ModelWeights readHuggingFace(Path file) {
            return HuggingFaceGpt2.read(config, file);
        }

        @Override
        public void exportHuggingFace(ModelWeights weights, Path file) {
            HuggingFaceGpt2.export(config, weights, file);
        }

        @Override
        public MemoryFit memory(ParallelLayout layout, PrecisionPolicy policy, int batch, RecomputePlan recompute,
                                MemoryLimit limit) {
            return new MemoryCheck(config, layout, policy, batch, recompute, limit);
        }
    }

    /** Llama-style ({@code --model llama}). */
    record Llama(LlamaConfig config) implements ModelSpec {
        @Override
        public Model model() {
            return new LlamaModel(config);
        }

        @Override
        public int seqLen() {
            return config.seqLen();
        }

        @Override
        public int vocab() {
            return config.vocab();
        }

        @Override
        public double flopsPerToken() {
            return config.flopsPerToken();
        }

        @Override
        public String describe(String preset, int tp) {
            return String.format(Locale.ROOT, "llama %s: %d layers, %d query and %d key/value heads, %d wide, MLP %d, "
                            + "sequences of %d, vocab %d (padded %d), %s head, %,d parameters", preset,
                    config.layers(), config.heads(), config.kvHeads(), config.channels(), config.hidden(),
                    config.seqLen(), config.vocab(), config.paddedVocab(tp), config.tiedHead() ? "tied" : "untied",
                    config.parameterCount());
        }

        @Override
        public ModelWeights readHuggingFace(Path file) {
            return HuggingFaceLlama.read(config, file);
        }

        @Override
        public void exportHuggingFace(ModelWeights weights, Path file) {
            HuggingFaceLlama.export(config, weights, file);
        }

        @Override
        public MemoryFit memory(ParallelLayout layout, PrecisionPolicy policy, int batch, RecomputePlan recompute,
                                MemoryLimit limit) {
            return new ModelStatesCheck(config, layout, policy, limit);
        }
    }
}
