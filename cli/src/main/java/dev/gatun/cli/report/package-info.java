/**
 * What a training run writes for people and programs to read: {@link MetricsWriter} appends metrics as JSON Lines (one
 * object per step, flushed at once, NaN and infinities as {@code null}), {@link LineChart} draws the loss curve and
 * {@link MemoryChart} each rank's memory by category against the ZeRO formula's model-state bytes, both as
 * self-contained SVG documents.
 */
package dev.gatun.cli.report;
