package dev.gatun.collectives;

/** The kinds of call a {@link Communicator} records and counts. */
public enum OpType {
    ALL_REDUCE("allReduce"),
    REDUCE_SCATTER("reduceScatter"),
    ALL_GATHER("allGather"),
    BROADCAST("broadcast"),
    REDUCE("reduce"),
    SEND("send"),
    RECV("recv"),
    BARRIER("barrier"),
    /** {@link Communicator#split}: a collective over the parent that moves no tensor data. */
    SPLIT("split");

    private final String label;

    OpType(String label) {
        this.label = label;
    }

    /** The method-style name used in messages and records, e.g. {@code "allReduce"}. */
    public String label() {
        return label;
    }

    /** Whether this is a point-to-point call (send or recv), which only two ranks take part in. */
    public boolean isPointToPoint() {
        return this == SEND || this == RECV;
    }
}
