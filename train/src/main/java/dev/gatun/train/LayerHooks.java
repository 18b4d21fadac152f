package dev.gatun.train;

/**
 * Called by a {@link LayerStage} around every layer call: where ZeRO gathers a layer's parameters before use, releases
 * them after, and reduces the layer's gradients after its last backward of the step.
 */
interface LayerHooks {
    /** No hooks: parameters stay where the layers put them. */
    LayerHooks NONE = new LayerHooks() {
        @Override
        public void beforeUse(Layer layer, boolean backward) {
        }

        @Override
        public void afterUse(Layer layer, boolean backward, boolean lastBackward) {
        }
    };

    /** Before {@code layer}'s forward ({@code backward = false}) or backward. */
    void beforeUse(Layer layer, boolean backward);

    /** After it; {@code lastBackward} when this was the step's last backward of the layer (its gradients are final). */
    void afterUse(Layer layer, boolean backward, boolean lastBackward);

    /**
     * After {@link #beforeUse} of a layer, with the layer the stage runs next in the same pass ({@code next}'s
     * {@code beforeUse} follows this layer's {@code afterUse}): where ZeRO-3 starts gathering {@code next}'s
     * parameters, so that the gather overlaps this layer's computation. By default nothing.
     */
    default void prefetch(Layer next, boolean backward) {
    }
}
