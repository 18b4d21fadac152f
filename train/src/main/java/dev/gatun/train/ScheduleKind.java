package dev.gatun.train;

import dev.gatun.pipeline.Schedule;
import dev.gatun.pipeline.Schedules;
import dev.gatun.pipeline.SendRecvLowering;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The pipeline schedules the trainer can run, by their command-line names: GPipe, 1F1B, interleaved 1F1B (Narayanan
 * et al. 2021) and ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", 2024), whose backward is split into the
 * input-gradient and weight-gradient halves ({@link Layer#backwardInput}, {@link Layer#backwardWeight}).
 */
public enum ScheduleKind {
    GPIPE("gpipe"),
    ONE_F_ONE_B("1f1b"),
    INTERLEAVED("interleaved"),
    ZB_H1("zb-h1");

    private final String cliName;

    ScheduleKind(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line. */
    public String cliName() {
        return cliName;
    }

    /** The kind named {@code name} ({@code gpipe}, {@code 1f1b}, {@code interleaved}, {@code zb-h1}). */
    public static ScheduleKind byName(String name) {
        for (ScheduleKind k : values()) {
            if (k.cliName.equalsIgnoreCase(name)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown schedule '" + name + "': choose one of "
                + Arrays.stream(values()).map(ScheduleKind::cliName).collect(Collectors.joining(", ")));
    }

    /** The lowered schedule (sends and receives added) for {@code p} ranks, {@code m} micro-batches, {@code v} chunks. */
    public Schedule build(int p, int m, int v) {
        Schedule s = switch (this) {
            case GPIPE -> Schedules.gpipe(p, m);
            case ONE_F_ONE_B -> Schedules.oneFOneB(p, m);
            case INTERLEAVED -> Schedules.interleaved1F1B(p, m, v);
            case ZB_H1 -> Schedules.zbH1(p, m);
        };
        return SendRecvLowering.lower(s);
    }

    /** Whether the schedule runs split backwards (input-gradient and weight-gradient actions). */
    public boolean splitsBackward() {
        return this == ZB_H1;
    }

    @Override
    public String toString() {
        return cliName;
    }
}
