package dev.gatun.memory;

/**
 * Where memory lives and kernels run: the CPU, or CUDA device {@code ordinal}. Parsed from and printed as
 * {@code "cpu"} / {@code "cuda:N"}.
 *
 * @param kind    CPU or CUDA
 * @param ordinal the CUDA device number; 0 for the CPU
 */
public record Device(Kind kind, int ordinal) {
    /** The two kinds of device. */
    public enum Kind { CPU, CUDA }

    /** The CPU. */
    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (kind == null) {
            throw new IllegalArgumentException("device kind must not be null");
        }
        if (ordinal < 0 || (kind == Kind.CPU && ordinal != 0)) {
            throw new IllegalArgumentException("device ordinal must be >= 0 (and 0 for the CPU), got " + ordinal);
        }
    }

    /** CUDA device {@code ordinal} (not checked against the machine here; allocating on it is). */
    public static Device cuda(int ordinal) {
        return new Device(Kind.CUDA, ordinal);
    }

    /** Whether this is a CUDA device. */
    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    /** Parses {@code "cpu"}, {@code "cuda"} (device 0) or {@code "cuda:N"}. */
    public static Device parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(java.util.Locale.ROOT);
        if (t.equals("cpu")) {
            return CPU;
        }
        if (t.equals("cuda")) {
            return cuda(0);
        }
        if (t.startsWith("cuda:")) {
            try {
                return cuda(Integer.parseInt(t.substring(5)));
            } catch (NumberFormatException e) {
                // falls through to the error below
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "': expected cpu, cuda or cuda:N");
    }

    @Override
    public String toString() {
        return isCuda() ? "cuda:" + ordinal : "cpu";
    }
}
