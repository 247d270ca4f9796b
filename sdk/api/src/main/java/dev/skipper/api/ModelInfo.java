package dev.skipper.api;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What an embedding app may want to know about the loaded model, without the bundle format's own
 * types (those live in {@code sdk/bundle}, for backends and tools).
 *
 * @param bundle the bundle directory
 * @param name the model's name (manifest {@code model.name})
 * @param layers decoder layers
 * @param vocabSize vocabulary size
 * @param maxPositions the model's longest context in tokens
 * @param hasChatTemplate whether {@link Session#chat} works
 * @param recipe the arithmetic the bundle computes with
 */
public record ModelInfo(Path bundle, String name, int layers, int vocabSize, int maxPositions,
        boolean hasChatTemplate, Recipe recipe) {
    /** Checks non-null components. */
    public ModelInfo {
        Objects.requireNonNull(bundle, "bundle");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(recipe, "recipe");
    }

    /**
     * The arithmetic a bundle computes with, so a result can say which recipe made it.
     *
     * @param producer the exporter that wrote the bundle
     * @param weights the weight precision ({@code int4}, {@code int8}, {@code fp16}, {@code fp32})
     * @param activations the activation dtype ({@code float32}, {@code float16})
     * @param matmulAccuracy {@code int8}: activations quantized per block inside the quantized
     *     matmuls; {@code fp32}: float32 matmuls
     * @param exactArithmetic float32 arithmetic on the source checkpoint's own values
     */
    public record Recipe(String producer, String weights, String activations, String matmulAccuracy,
            boolean exactArithmetic) {
        /** Checks non-null components. */
        public Recipe {
            Objects.requireNonNull(producer, "producer");
            Objects.requireNonNull(weights, "weights");
            Objects.requireNonNull(activations, "activations");
            Objects.requireNonNull(matmulAccuracy, "matmulAccuracy");
        }
    }
}
