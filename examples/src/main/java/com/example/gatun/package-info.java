/**
 * Examples written as an outside user of Gatun would write them, through the public API only (the modules come through
 * the BOM): {@link DeepMlp} is a model of its own, a deep residual MLP classifier built from the tensor-parallel
 * layers, that implements {@link dev.gatun.train.Model} so the engine trains it in any {@code dp × tp × pp × ZeRO}
 * layout; {@link GptCustomData} trains the library's GPT-2 on this program's own data pipeline and watches it with its
 * own step callback.
 */
package com.example.gatun;
