package dev.gatun.collectives;

/**
 * One rank's communicators for a {@link DeviceMesh}, from {@link DeviceMesh#groups}: the whole world and its data-,
 * pipeline- and tensor-parallel groups. Its rank in each group is its coordinate: {@code tp().rank() ==
 * coordinates().tp()}, and so on; pipeline neighbours are {@code pp().rank() ± 1} in {@code pp()}.
 *
 * @param mesh        the layout
 * @param coordinates this rank's place in it
 * @param world       all ranks
 * @param dp          the ranks holding the same model shard (gradient all-reduce, ZeRO)
 * @param pp          the stages of this rank's pipeline (activation send/recv)
 * @param tp          the ranks sharing this rank's layers (Megatron all-reduces)
 */
public record MeshGroups(DeviceMesh mesh, DeviceMesh.Coordinates coordinates, Communicator world, Communicator dp,
                         Communicator pp, Communicator tp) implements AutoCloseable {
    /** Closes the dp, pp and tp communicators (not the world's, which the caller owns). */
    @Override
    public void close() {
        tp.close();
        dp.close();
        pp.close();
    }
}
