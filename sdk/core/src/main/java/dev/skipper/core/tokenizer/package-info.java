/**
 * Tokenizers of Skipper bundles: {@link dev.skipper.core.tokenizer.Tokenizers#open} reads the
 * manifest's {@code tokenizer} section and returns a {@link dev.skipper.core.tokenizer.Tokenizer}
 * ({@link dev.skipper.core.tokenizer.HfTokenizer} for {@code tokenizer.json},
 * {@link dev.skipper.core.tokenizer.SentencePieceTokenizer} for {@code tokenizer.model}) that
 * encodes and decodes exactly as the exporter's Python {@code BundleTokenizer}, and whose
 * {@link dev.skipper.core.tokenizer.StreamingDetokenizer} turns generated ids into text without
 * ever splitting a character.
 *
 * <h2>Native libraries, offline</h2>
 *
 * <p>{@code ai.djl.huggingface:tokenizers} and {@code ai.djl.sentencepiece:sentencepiece} ship
 * their JNI libraries inside their jars (linux x86_64/aarch64, macOS arm64, Windows x86_64);
 * DJL copies the one for the platform to its cache directory ({@code ~/.djl.ai}, or
 * {@code ENGINE_CACHE_DIR}) and loads it from there. While a tokenizer opens, Skipper sets the
 * system properties {@code ai.djl.offline=true}, {@code OPT_OUT_TRACKING=true} and
 * {@code RUST_FLAVOR=cpu} (and puts the previous values back afterwards): otherwise DJL downloads
 * a CUDA build of the tokenizers library when it sees an NVIDIA GPU, and contacts EC2 metadata and
 * its telemetry endpoint when a tokenizer is created. Environment variables that would override
 * these towards the network
 * ({@code RUST_FLAVOR} other than {@code cpu}; {@code DJL_OFFLINE=false} together with
 * {@code OPT_OUT_TRACKING=false}) make {@code open} fail with a message that says so. On platforms
 * the jars do not cover (macOS x86_64, for one) loading fails; nothing is downloaded.
 */
package dev.skipper.core.tokenizer;
