/**
 * Self-speculative decoding: drafters propose tokens with part of the model (or none of it), the
 * {@link dev.skipper.core.speculation.Verifier} checks them with the whole model in one batched
 * pass, and the {@link dev.skipper.core.speculation.DraftController} adapts the draft length and
 * turns speculation off when it does not pay. The round as a state machine is in
 * {@code docs/architecture.md}.
 *
 * <p>These classes work on the backend SPI ({@link dev.skipper.runtime.spi.ModelRunner},
 * {@link dev.skipper.runtime.spi.KvCache}, {@link dev.skipper.runtime.spi.HiddenStates}) and plain arrays;
 * {@code dev.skipper.core.SpeculativeDecoder} connects them to a session's sequence.
 */
package dev.skipper.core.speculation;
