package dev.gatun.pipeline;

/**
 * What an {@link Action} does: compute ({@link #FORWARD}, {@link #BACKWARD}, or the backward split in two,
 * {@link #BACKWARD_INPUT} then {@link #BACKWARD_WEIGHT}, as zero-bubble schedules run it) or move a tensor between
 * adjacent stages that live on different ranks ({@link #SEND_F}, {@link #RECV_F}, {@link #SEND_B}, {@link #RECV_B}).
 *
 * <p>The stage of a communication action is the stage on <i>this</i> rank's side: {@code 0SEND_F1} is stage 0 sending
 * its forward output for micro-batch 1 to stage 1, which receives it with {@code 1RECV_F1}; {@code 1SEND_B1} is stage 1
 * sending the gradient of its input back to stage 0, which receives it with {@code 0RECV_B1}.
 *
 * <p>A micro-batch's backward on a stage is either one {@code B} or an {@code I} (the input gradient, which the
 * previous stage waits for) followed later by a {@code W} (the weight gradient, which nobody waits for); the
 * activation its forward stored is held until the {@code B} or the {@code W}. The symbols are PyTorch pipelining's.
 */
public enum ActionType {
    /** Run the stage forward on one micro-batch and keep its activations until the backward. */
    FORWARD("F", 0),
    /** Run the stage backward on one micro-batch and free the activations its forward kept. */
    BACKWARD("B", 0),
    /**
     * The first half of a split backward: the gradient of the stage's input (sent to the previous stage), keeping
     * what the weight gradient needs.
     */
    BACKWARD_INPUT("I", 0),
    /**
     * The second half of a split backward: the weight gradients of a micro-batch whose {@link #BACKWARD_INPUT} ran,
     * then the activations freed.
     */
    BACKWARD_WEIGHT("W", 0),
    /** Send the forward output of stage {@code s} to stage {@code s + 1}. */
    SEND_F("SEND_F", +1),
    /** Receive the forward input of stage {@code s} from stage {@code s − 1}. */
    RECV_F("RECV_F", -1),
    /** Send the input gradient computed by stage {@code s}'s backward to stage {@code s − 1}. */
    SEND_B("SEND_B", -1),
    /** Receive the output gradient of stage {@code s} from stage {@code s + 1}. */
    RECV_B("RECV_B", +1);

    private final String symbol;
    private final int peerOffset;

    ActionType(String symbol, int peerOffset) {
        this.symbol = symbol;
        this.peerOffset = peerOffset;
    }

    /** The token in the printed form: {@code F}, {@code B}, {@code SEND_F}, ... */
    public String symbol() {
        return symbol;
    }

    /** Whether this is a compute action (forward or backward), as opposed to a send or receive. */
    public boolean isCompute() {
        return peerOffset == 0;
    }

    /** Whether this computes the gradient of the stage's input: {@link #BACKWARD} or {@link #BACKWARD_INPUT}. */
    public boolean makesInputGradient() {
        return this == BACKWARD || this == BACKWARD_INPUT;
    }

    /** Whether this ends a micro-batch's backward, freeing its activation: {@link #BACKWARD} or {@link #BACKWARD_WEIGHT}. */
    public boolean freesActivation() {
        return this == BACKWARD || this == BACKWARD_WEIGHT;
    }

    /** Whether this is a send. */
    public boolean isSend() {
        return this == SEND_F || this == SEND_B;
    }

    /** For communication: the peer stage's offset from this action's stage (+1 or −1); 0 for compute. */
    public int peerOffset() {
        return peerOffset;
    }

    /** For communication: the type of the matching action on the peer ({@code SEND_F ↔ RECV_F}, {@code SEND_B ↔ RECV_B}). */
    public ActionType counterpart() {
        return switch (this) {
            case SEND_F -> RECV_F;
            case RECV_F -> SEND_F;
            case SEND_B -> RECV_B;
            case RECV_B -> SEND_B;
            case FORWARD, BACKWARD, BACKWARD_INPUT, BACKWARD_WEIGHT ->
                    throw new IllegalStateException(this + " is compute and has no counterpart");
        };
    }

    /** The type whose {@link #symbol()} is {@code symbol}. */
    public static ActionType ofSymbol(String symbol) {
        for (ActionType t : values()) {
            if (t.symbol.equals(symbol)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown action type '" + symbol + "': expected one of F, B, I, W, SEND_F,"
                + " RECV_F, SEND_B, RECV_B");
    }
}
