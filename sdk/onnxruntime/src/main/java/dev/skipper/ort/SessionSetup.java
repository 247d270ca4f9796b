package dev.skipper.ort;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.skipper.runtime.profiles.ProfilePlan;

/**
 * What a backend adds to each graph's session options before the session is created: nothing for
 * the cpu backend, an execution provider (with per-graph optimization profiles) on a GPU.
 * Closing frees the provider options it made, after the sessions exist.
 */
interface SessionSetup extends AutoCloseable {
    /** The CPU execution provider only (ONNX Runtime's default). */
    SessionSetup CPU = new SessionSetup() {
        @Override
        public void apply(OrtSession.SessionOptions options, ProfilePlan.GraphKind kind) {
        }

        @Override
        public void close() {
        }
    };

    /**
     * @param options one graph's options (already holding the thread and bundle settings)
     * @param kind which graph it is: its dynamic inputs
     * @throws OrtException when ONNX Runtime refuses the provider (not in this build, no device)
     */
    void apply(OrtSession.SessionOptions options, ProfilePlan.GraphKind kind) throws OrtException;

    @Override
    void close();
}
