/**
 * The Skipper runtime: {@link dev.skipper.core.Skipper} opens a bundle on a backend into a
 * {@link dev.skipper.core.DefaultEngine}, whose {@link dev.skipper.core.DefaultSession}s generate
 * text (raw or with the bundle's {@link dev.skipper.core.ChatTemplate}), keep multi-turn
 * conversations in their KV cache, and score texts.
 *
 * <p>Inside a session: a {@code Sequence} holds the tokens, the KV cache and the logits and runs
 * tokens through the backend's per-graph primitives ({@link dev.skipper.runtime.spi.ModelRunner});
 * a {@code DecodeLoop} turns a prompt into a result (context check, prefix reuse, chunked
 * prefill, sample / stop / stream / feed); a {@code TeacherForcedScorer} scores texts in a
 * temporary cache.
 */
package dev.skipper.core;
