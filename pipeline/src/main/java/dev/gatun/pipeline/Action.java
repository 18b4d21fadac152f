package dev.gatun.pipeline;

import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One thing a rank does in a pipeline schedule: {@code type} on {@code stage} for {@code microBatch}. Printed as
 * stage, type symbol, micro-batch with nothing between: {@code 2F0} (stage 2 forward of micro-batch 0), {@code 1B3},
 * {@code 0SEND_F1}, {@code 1RECV_F1}; {@link #parse} reads that form back.
 *
 * @param stage      the pipeline stage (model chunk) index, {@code 0 ≤ stage < p·v}
 * @param type       what is done
 * @param microBatch the micro-batch index, {@code 0 ≤ microBatch < m}
 */
public record Action(int stage, ActionType type, int microBatch) {
    private static final Pattern FORM = Pattern.compile("(\\d+)([A-Z_]+)(\\d+)");

    public Action {
        Objects.requireNonNull(type, "type must not be null");
        if (stage < 0 || microBatch < 0) {
            throw new IllegalArgumentException("stage and micro-batch must be >= 0, got stage=" + stage
                    + ", microBatch=" + microBatch);
        }
    }

    /** {@code stage F microBatch}. */
    public static Action forward(int stage, int microBatch) {
        return new Action(stage, ActionType.FORWARD, microBatch);
    }

    /** {@code stage B microBatch}. */
    public static Action backward(int stage, int microBatch) {
        return new Action(stage, ActionType.BACKWARD, microBatch);
    }

    /** {@code stage I microBatch}: the input-gradient half of a split backward. */
    public static Action backwardInput(int stage, int microBatch) {
        return new Action(stage, ActionType.BACKWARD_INPUT, microBatch);
    }

    /** {@code stage W microBatch}: the weight-gradient half of a split backward. */
    public static Action backwardWeight(int stage, int microBatch) {
        return new Action(stage, ActionType.BACKWARD_WEIGHT, microBatch);
    }

    /** Parses the printed form, e.g. {@code "2F0"} or {@code "0SEND_F1"}. */
    public static Action parse(String text) {
        Matcher m = FORM.matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("cannot parse action '" + text
                    + "': expected <stage><type><micro-batch>, e.g. 2F0, 1B3, 0SEND_F1, 1RECV_B0");
        }
        return new Action(Integer.parseInt(m.group(1)), ActionType.ofSymbol(m.group(2)), Integer.parseInt(m.group(3)));
    }

    /** Whether this is a forward or backward. */
    public boolean isCompute() {
        return type.isCompute();
    }

    /**
     * For communication: the action on the peer stage that this one pairs with ({@code 0SEND_F1 ↔ 1RECV_F1},
     * {@code 1SEND_B1 ↔ 0RECV_B1}).
     */
    public Action counterpart() {
        return new Action(stage + type.peerOffset(), type.counterpart(), microBatch);
    }

    @Override
    public String toString() {
        return stage + type.symbol() + microBatch;
    }
}
