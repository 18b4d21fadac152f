package dev.gatun.e2e;

import dev.gatun.train.checkpoint.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gatun train}, the README's main job, end to end in this JVM. */
@Timeout(180)
class TrainCommandTest {
    /** What {@code gatun train} printed and how it exited. */
    /** Runs {@code gatun train args} in this JVM. */
    static Cli.Run train(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "train";
        System.arraycopy(args, 0, all, 1, args.length);
        return Cli.run(all);
    }

    @Test
    void tinyPresetTrainsAndItsLossFalls(@TempDir Path dir) throws IOException {
        Cli.Run r = train("--steps", "40", "--out", dir.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        double[] l = Jobs.losses(dir.resolve("metrics.jsonl"));
        assertEquals(40, l.length);
        assertTrue(l[0] > 5.0 && l[39] < l[0] - 1.5, "the loss must fall from ~ln 256: " + l[0] + " -> " + l[39]);
        for (String f : List.of("metrics.jsonl", "loss.svg", "pipeline.svg", "memory.svg")) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
            assertTrue(r.out().contains(dir.resolve(f).toString()), "prints the path of " + f + ":\n" + r.out());
        }
        assertTrue(r.out().contains("model states"), r.out());
        assertTrue(r.out().contains("\nmemory  about ") && r.out().contains(" at the peak (estimated: parameters "),
                "the header gives the memory estimate:\n" + r.out());
        assertTrue(Files.getPosixFilePermissions(dir.resolve("loss.svg"))
                .contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ), "charts are readable like outputs");
    }

    /** The README's main job: its loss falls without a spike above the first step's (3e-3 spiked to 12.6). */
    @Test
    void theDefaultRunFallsWithoutASpike(@TempDir Path dir) throws IOException {
        Cli.Run r = train("--out", dir.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        double[] l = Jobs.losses(dir.resolve("metrics.jsonl"));
        assertEquals(150, l.length);
        for (int i = 1; i < l.length; i++) {
            assertTrue(l[i] <= l[0], "step " + i + ": loss " + l[i] + " above the first step's " + l[0]);
        }
        assertTrue(l[l.length - 1] < 2.5, "falls to about 2.2-2.3: " + l[l.length - 1]);
    }

    @Test
    void a3dLayoutWithZero3WritesAMemoryRowPerRank(@TempDir Path dir) throws IOException {
        Cli.Run r = train("--dp", "2", "--tp", "2", "--pp", "2", "--zero", "3", "--microbatches", "2", "--steps", "3",
                "--out", dir.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        for (int rank = 0; rank < 8; rank++) {
            assertTrue(r.out().contains("\n  " + rank + "    ("), "memory row of rank " + rank + ":\n" + r.out());
        }
        assertTrue(r.out().contains(" at the peak for the 8 ranks of this process (estimated: the largest rank "),
                r.out());
        String gantt = Files.readString(dir.resolve("pipeline.svg"));
        assertTrue(gantt.contains(">stage 0 (ranks ") && gantt.contains(">stage 1 (ranks "),
                "the Gantt chart has a lane per pipeline stage, with the ranks it stands for");
    }

    /** The same losses with and without recomputation, less activation memory, and the run says so. */
    @Test
    void recomputationTrainsTheSameRunInLessMemory(@TempDir Path dir) throws IOException {
        String[] layout = {"--tp", "2", "--pp", "2", "--microbatches", "2", "--steps", "3", "--seq-len", "64"};
        Cli.Run none = train(concat(layout, "--out", dir.resolve("none").toString()));
        Cli.Run full = train(concat(layout, "--recompute", "full", "--out", dir.resolve("full").toString()));
        assertEquals(0, none.exit(), none.out() + none.err());
        assertEquals(0, full.exit(), full.out() + full.err());
        assertTrue(full.out().contains("fp32, recompute full\n"), full.out());
        assertEquals(line(none.out(), "loss    "), line(full.out(), "loss    "));
        assertTrue(estimatedActivations(full.out()) < estimatedActivations(none.out()), full.out() + none.out());
        assertTrue(Files.readString(dir.resolve("full").resolve("memory.svg")).contains("recompute full"));
    }

    /** Sequence parallelism trains the same run (the loss line) in less activation memory, and the run says so. */
    @Test
    void sequenceParallelismTrainsTheSameRunInLessMemory(@TempDir Path dir) throws IOException {
        String[] layout = {"--tp", "2", "--pp", "2", "--microbatches", "2", "--steps", "3", "--seq-len", "64"};
        Cli.Run none = train(concat(layout, "--out", dir.resolve("none").toString()));
        Cli.Run sp = train(concat(layout, "--sequence-parallel", "--out", dir.resolve("sp").toString()));
        assertEquals(0, none.exit(), none.out() + none.err());
        assertEquals(0, sp.exit(), sp.out() + sp.err());
        assertTrue(sp.out().contains("layout  dp1 tp2 pp2 zero0 1f1b m2 sp,"), sp.out());
        assertEquals(line(none.out(), "loss    "), line(sp.out(), "loss    "));
        assertTrue(estimatedActivations(sp.out()) < estimatedActivations(none.out()), sp.out() + none.out());
    }

    /** The Llama model trains from the command line, in a 3D layout with ZeRO 3 too, and its loss falls. */
    @Test
    void theLlamaModelTrainsAndItsLossFalls(@TempDir Path dir) throws IOException {
        Cli.Run r = train("--model", "llama", "--steps", "30", "--out", dir.resolve("one").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model   llama tiny: 2 layers, 4 query and 2 key/value heads, 64 wide"), r.out());
        var loss = java.util.regex.Pattern.compile("loss +([0-9.]+) -> ([0-9.]+)").matcher(r.out());
        assertTrue(loss.find(), r.out());
        assertTrue(Double.parseDouble(loss.group(2)) < Double.parseDouble(loss.group(1)) - 1, r.out());
        Path hf = dir.resolve("llama.safetensors");
        Cli.Run d3 = train("--model", "llama", "--dp", "2", "--tp", "2", "--pp", "2", "--zero", "3",
                "--microbatches", "2", "--steps", "3", "--export-hf", hf.toString(), "--out",
                dir.resolve("3d").toString());
        assertEquals(0, d3.exit(), d3.out() + d3.err());
        assertTrue(Files.exists(dir.resolve("3d").resolve("pipeline.svg")));
        assertTrue(SafetensorsFile.open(hf).entries().containsKey("model.layers.1.self_attn.k_proj.weight"));
        Cli.Run resumed = train("--model", "llama", "--tp", "2", "--steps", "1", "--init-hf", hf.toString(), "--out",
                dir.resolve("from-hf").toString());
        assertEquals(0, resumed.exit(), resumed.out() + resumed.err());
        double start = Double.parseDouble(line(resumed.out(), "loss    ").split(" +")[1]);
        assertTrue(start < Double.parseDouble(loss.group(1)), "the imported weights start where training left them: "
                + start);
    }

    /** ZB-H1 trains 1F1B's run (the same loss line) and its Gantt chart shows the weight halves. */
    @Test
    void zeroBubbleTrainsThe1F1BRunWithItsWeightHalvesCharted(@TempDir Path dir) throws IOException {
        String[] layout = {"--pp", "2", "--microbatches", "4", "--steps", "3", "--seq-len", "64"};
        Cli.Run oneF = train(concat(layout, "--out", dir.resolve("1f1b").toString()));
        Cli.Run zb = train(concat(layout, "--schedule", "zb-h1", "--out", dir.resolve("zb").toString()));
        assertEquals(0, oneF.exit(), oneF.out() + oneF.err());
        assertEquals(0, zb.exit(), zb.out() + zb.err());
        assertTrue(zb.out().contains("zb-h1"), zb.out());
        assertEquals(line(oneF.out(), "loss    "), line(zb.out(), "loss    "));
        String gantt = Files.readString(dir.resolve("zb").resolve("pipeline.svg"));
        assertTrue(gantt.contains("class=\"action weight\" data-action=\"1W3\""), "W of micro-batch 3 charted");
        assertTrue(gantt.contains("weight gradient (W; I: input gradient, hatched)"), "the legend says W");
    }

    private static String line(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError(
                "no line starting with '" + prefix + "' in\n" + out));
    }

    /** The estimated activations of the memory line, in KiB. */
    private static double estimatedActivations(String out) {
        var m = java.util.regex.Pattern.compile("activations ([0-9.]+) (KiB|MiB)").matcher(line(out, "memory  "));
        if (!m.find()) {
            throw new AssertionError("no estimated activations in " + out);
        }
        return Double.parseDouble(m.group(1)) * (m.group(2).equals("MiB") ? 1024 : 1);
    }

    @Test
    void saveEveryAndResumeContinueTheSameRun(@TempDir Path dir) throws IOException {
        String[] layout = {"--dp", "2", "--zero", "2", "--steps", "6", "--batch", "8"};
        Cli.Run straight = train(concat(layout, "--out", dir.resolve("straight").toString()));
        assertEquals(0, straight.exit(), straight.err());
        Cli.Run first = train(concat(layout, "--save-every", "3", "--out", dir.resolve("first").toString()));
        assertEquals(0, first.exit(), first.err());
        Files.delete(dir.resolve("first/checkpoints/step-00000006/checkpoint.json")); // as if it died saving step 6
        Cli.Run resumed = train(concat(layout, "--resume", dir.resolve("first/checkpoints").toString(), "--out",
                dir.resolve("resumed").toString()));
        assertEquals(0, resumed.exit(), resumed.err());
        double[] all = Jobs.losses(dir.resolve("straight/metrics.jsonl"));
        double[] tail = Jobs.losses(dir.resolve("resumed/metrics.jsonl"));
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 3, 6), tail);
        Cli.Run longer = train("--steps", "9", "--dp", "2", "--zero", "2", "--batch", "8", "--resume",
                dir.resolve("first/checkpoints").toString(), "--out", dir.resolve("x").toString());
        assertEquals(0, longer.exit(), longer.err());
        assertTrue(longer.out().contains("stretches the same cosine over 9 steps"), longer.out());
        Cli.Run changed = train("--steps", "9", "--dp", "2", "--zero", "2", "--batch", "8", "--lr", "2e-3", "--resume",
                dir.resolve("first/checkpoints").toString(), "--out", dir.resolve("y").toString());
        assertEquals(2, changed.exit());
        assertTrue(changed.err().contains("was saved with learning_rate"), changed.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--tp 3|--tp 3 must divide the model's 4 attention heads",
            "--pp 3|--pp 3 = 3 stages, more than the model's 2 layers: use at most 2 stages",
            "--dp 3|--batch 16 must be a multiple of dp x microbatches = 3",
            "--zero 4|--zero must be 0, 1, 2 or 3, got 4",
            "--schedule zigzag|unknown schedule 'zigzag': choose one of gpipe, 1f1b, interleaved, zb-h1",
            "--sequence-parallel|--sequence-parallel needs --tp >= 2, got 1",
            "--model bert|unknown --model 'bert': use gpt or llama",
            "--model llama --preset gpt2|unknown --preset 'gpt2' for --model llama: use tiny, llama3.2-1b or llama3.1-8b",
            "--preset llama3.2-1b|unknown --preset 'llama3.2-1b': use tiny or gpt2 (llama3.2-1b and llama3.1-8b are",
            "--model llama --tp 4|--tp 4 must divide the model's 2 key/value heads",
            "--model llama --preset llama3.1-8b|not enough memory: at least ",
            "--sequence-parallel --tp 2 --batch 3 --seq-len 5|--sequence-parallel splits a micro-batch's 15 tokens over --tp 2",
            "--schedule interleaved --pp 2|the interleaved schedule needs --virtual-stages >= 2",
            "--schedule interleaved --virtual-stages 2|the interleaved schedule needs --pp >= 2, got 1",
            "--data /no/such/file.txt|data file /no/such/file.txt does not exist",
            "--device tpu|unknown --device 'tpu': use cpu or cuda",
            "--tf32|--tf32 is for --device cuda",
            "--recompute sometimes|unknown --recompute 'sometimes': use none, selective or full"})
    void invalidLayoutsEndWithOneLineAndExitCode2(String args, String message) {
        Cli.Run r = train(args.split(" "));
        assertEquals(2, r.exit(), r.out() + r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.getFirst().startsWith("gatun train: " + message), lines.getFirst());
        assertTrue(r.out().isEmpty(), r.out());
    }

    /** 4.9 G parameters: refused at once, before anything is allocated, with the estimate and the limit. */
    @Test
    void aModelTooLargeForThisMachineIsRefusedBeforeItIsBuilt() {
        Cli.Run r = train("--layers", "100000");
        assertEquals(2, r.exit(), r.out() + r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        String line = lines.getFirst();
        assertTrue(line.startsWith("gatun train: not enough memory: this run needs about "), line);
        assertTrue(line.contains(" at the peak (estimated: parameters ") && line.contains(" activations "), line);
        assertTrue(line.contains(" of host memory available (MemAvailable): ") || line.contains(" of free host memory: "),
                line);
        assertTrue(line.endsWith(" (--no-memory-check runs it anyway)"), line);
        assertTrue(r.out().isEmpty(), r.out());
    }

    /** Sixteen ranks on CUDA: no machine here has that many GPUs; without a GPU the reason is the driver's. */
    @Test
    void cudaWithTooFewGpusEndsWithOneLineSayingWhy() {
        Cli.Run r = train("--device", "cuda", "--dp", "16");
        assertEquals(2, r.exit(), r.out() + r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        String expected = dev.gatun.bindings.Cuda.isAvailable()
                ? "gatun train: the layout has 16 ranks but this machine has "
                : "gatun train: --device cuda: no CUDA device: ";
        assertTrue(lines.getFirst().startsWith(expected), lines.getFirst());
        assertTrue(r.out().isEmpty(), r.out());
    }
}
