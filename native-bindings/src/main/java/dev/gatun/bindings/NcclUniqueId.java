package dev.gatun.bindings;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * The 128-byte {@code ncclUniqueId} that rank 0 creates and every rank passes to {@code ncclCommInitRank}; plain bytes,
 * so a rendezvous can send it to the other processes.
 */
public final class NcclUniqueId {
    /** Size of the id in bytes ({@code NCCL_UNIQUE_ID_BYTES}). */
    public static final int BYTES = 128;

    private final byte[] bytes;

    /** Wraps the 128 bytes of an id (copied). */
    public NcclUniqueId(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("an NCCL unique id is " + BYTES + " bytes, got "
                    + (bytes == null ? "null" : bytes.length));
        }
        this.bytes = bytes.clone();
    }

    /** A copy of the id's bytes. */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** The id as 256 hex digits. */
    public String toHex() {
        return HexFormat.of().formatHex(bytes);
    }

    /** Parses {@link #toHex()}. */
    public static NcclUniqueId fromHex(String hex) {
        return new NcclUniqueId(HexFormat.of().parseHex(hex));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NcclUniqueId other && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "NcclUniqueId[" + toHex().substring(0, 16) + "...]";
    }
}
