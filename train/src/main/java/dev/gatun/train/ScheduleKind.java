package dev.gatun.train;

import dev.gatun.pipeline.Schedule;
import dev.gatun.pipeline.Schedules;
import dev.gatun.pipeline.SendRecvLowering;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The pipeline schedules the trainer can run, by their command-line names. */
public enum ScheduleKind {
    GPIPE("gpipe"),
    ONE_F_ONE_B("1f1b"),
    INTERLEAVED("interleaved");

    private final String cliName;

    ScheduleKind(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line. */
    public String cliName() {
        return cliName;
    }

    /** The kind named {@code name} ({@code gpipe}, {@code 1f1b}, {@code interleaved}). */
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
        };
        return SendRecvLowering.lower(s);
    }

    @Override
    public String toString() {
        return cliName;
    }
}
