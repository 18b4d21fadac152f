package dev.gatun.collectives;

/** What one rank runs in {@link InProcessWorld#run}: given its world communicator, returns its result. */
@FunctionalInterface
public interface RankBody<R> {
    /** Runs on rank {@code world.rank()}'s own thread. */
    R run(Communicator world) throws Exception;
}
