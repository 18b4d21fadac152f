package dev.gatun.pipeline;

/**
 * A schedule that cannot run: a dependency violated, a send or receive without its partner, an activation freed
 * twice or never, or a deadlock. The message is the reason followed by the schedule's step table with the failing
 * cell(s) in brackets and their row(s) marked {@code <-- ERROR HERE}.
 */
public final class InvalidScheduleException extends IllegalArgumentException {
    private final String reason;
    private final String table;

    InvalidScheduleException(String reason, String table) {
        super(reason + "\n" + table);
        this.reason = reason;
        this.table = table;
    }

    /** What went wrong, without the table. */
    public String reason() {
        return reason;
    }

    /** The step table with the failing cells marked. */
    public String table() {
        return table;
    }
}
