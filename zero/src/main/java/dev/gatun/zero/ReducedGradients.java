package dev.gatun.zero;

import dev.gatun.memory.Tensor;

import java.util.List;

/**
 * A rank's gradients once they are reduced over the data-parallel group and before the update: for each unit
 * {@code u} of the {@link FlatLayout}, the elements {@link #owned()}{@code [u]} of its padded flat buffer, averaged
 * over dp, in the parameter dtype and multiplied by {@link #lossScale()} (fp16), not yet clipped. Under ZeRO-1/2/3 a
 * rank holds only its shard; without ZeRO every rank holds the whole, replicated. Valid during the call it is given
 * to.
 *
 * @param layout    the units and their parameters' offsets
 * @param owned     per unit, the range of its padded flat elements this rank holds
 * @param shards    per unit, those elements
 * @param lossScale what the gradients are multiplied by (1 without loss scaling)
 */
public record ReducedGradients(FlatLayout layout, List<Shard> owned, List<Tensor> shards, float lossScale) {
    public ReducedGradients {
        owned = List.copyOf(owned);
        shards = List.copyOf(shards);
    }
}
