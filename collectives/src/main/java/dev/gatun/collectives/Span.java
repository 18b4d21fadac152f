package dev.gatun.collectives;

/**
 * A contiguous range of elements: the part of a buffer one rank reduces or copies. {@link #of} splits {@code n}
 * elements among ranks in blocks of {@value #BLOCK} (a cache line of fp32), so ranks do not write the same line,
 * the first {@code blocks mod parts} ranks taking one block more, the last one the remainder.
 */
record Span(long offset, long length) {
    static final long BLOCK = 16;

    /** Part {@code part} of {@code parts} of {@code n} elements. */
    static Span of(int part, int parts, long n) {
        long blocks = (n + BLOCK - 1) / BLOCK;
        long per = blocks / parts;
        long extra = blocks % parts;
        long first = part * per + Math.min(part, extra);
        long last = first + per + (part < extra ? 1 : 0);
        long start = Math.min(n, first * BLOCK);
        return new Span(start, Math.min(n, last * BLOCK) - start);
    }
}
