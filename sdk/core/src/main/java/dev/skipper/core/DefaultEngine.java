package dev.skipper.core;

import dev.skipper.api.Engine;
import dev.skipper.api.ModelInfo;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.tokenizer.Tokenizer;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The engine over one loaded bundle: a backend's {@link ModelRunner}, the bundle's tokenizer and
 * its chat template, shared by every {@link DefaultSession}. Open one with {@link Skipper}.
 *
 * <p>Thread-safe: sessions may be created, used and closed from different threads, and generate
 * concurrently (the runner accepts concurrent calls on different caches). {@link #close()} closes
 * the sessions still open (waiting for their running requests to stop), then the runner and the
 * tokenizer.
 */
public final class DefaultEngine implements Engine {
    /** Rows of a session's working hidden states: the most prompt tokens one model call processes. */
    public static final int PREFILL_CHUNK = 64;

    private final ModelRunner runner;
    private final String backendName;
    private final String backendWarning;
    private final Tokenizer tokenizer;
    private final dev.skipper.core.constrained.Grammars grammars = new dev.skipper.core.constrained.Grammars();
    private volatile dev.skipper.core.constrained.TokenVocabulary vocabulary; // built on first structured request
    private final ChatTemplate chatTemplate;
    private final int contextLength;
    private final SpeculationConfig speculation;
    private final Set<DefaultSession> sessions = ConcurrentHashMap.newKeySet();
    private boolean closed;

    /**
     * @param runner the backend's runner (owned: closed with the engine)
     * @param backendName the backend's name
     * @param backendWarning the fallback warning, or {@code null}
     * @param tokenizer the bundle's tokenizer (owned)
     * @param chatTemplate the bundle's chat template, or {@code null}
     * @param contextLength tokens of context per session
     */
    DefaultEngine(ModelRunner runner, String backendName, String backendWarning, Tokenizer tokenizer,
                  ChatTemplate chatTemplate, int contextLength) {
        this(runner, backendName, backendWarning, tokenizer, chatTemplate, contextLength, SpeculationConfig.OFF);
    }

    /**
     * @param runner the backend's runner (owned: closed with the engine)
     * @param backendName the backend's name
     * @param backendWarning the fallback warning, or {@code null}
     * @param tokenizer the bundle's tokenizer (owned)
     * @param chatTemplate the bundle's chat template, or {@code null}
     * @param contextLength tokens of context per session
     * @param speculation the default speculative decoding settings of every session
     */
    DefaultEngine(ModelRunner runner, String backendName, String backendWarning, Tokenizer tokenizer,
                  ChatTemplate chatTemplate, int contextLength, SpeculationConfig speculation) {
        this.runner = Objects.requireNonNull(runner, "runner");
        this.backendName = Objects.requireNonNull(backendName, "backendName");
        this.backendWarning = backendWarning;
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.chatTemplate = chatTemplate;
        this.contextLength = contextLength;
        this.speculation = Objects.requireNonNull(speculation, "speculation");
    }

    /** @return the backend's runner (package-private: tests and sessions) */
    ModelRunner runner() {
        return runner;
    }

    /** @return the speculative decoding settings sessions start with */
    public SpeculationConfig speculation() {
        return speculation;
    }

    @Override
    public ModelInfo model() {
        return runner.manifest().modelInfo();
    }

    /** @return the bundle's full manifest (tools and tests; apps use {@link #model()}) */
    public BundleManifest manifest() {
        return runner.manifest();
    }

    @Override
    public long runtimeNanos() {
        return runner.nativeNanos();
    }

    @Override
    public String backendName() {
        return backendName;
    }

    /**
     * Why the preferred backends were skipped, when the engine fell back to a later one (the same
     * text was logged as a warning when the engine opened).
     *
     * @return the warning, or empty when the first backend asked for runs the bundle
     */
    public Optional<String> backendWarning() {
        return Optional.ofNullable(backendWarning);
    }

    /**
     * The bundle's tokenizer, for counting or inspecting tokens. Do not close it: the engine does.
     *
     * @return the tokenizer
     */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The bundle's chat template.
     *
     * @return it, or empty when the bundle has none ({@link DefaultSession#chat} then fails)
     */
    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    /** @return tokens of context each session gets */
    public int contextLength() {
        return contextLength;
    }

    /**
     * {@inheritDoc}
     *
     * @return a new {@link DefaultSession}
     * @throws IllegalStateException if the engine is closed
     */
    @Override
    public synchronized DefaultSession newSession() throws SkipperException {
        if (closed) {
            throw new IllegalStateException("engine is closed");
        }
        DefaultSession session = new DefaultSession(this, runner);
        sessions.add(session);
        return session;
    }

    /**
     * A request's grammar constraint (structured output).
     *
     * @param format a JSON response format
     * @return a fresh constraint at the document's start
     * @throws dev.skipper.api.InvalidSchemaException if the schema cannot be enforced
     * @throws SkipperException if the tokenizer cannot say which bytes its tokens stand for
     */
    dev.skipper.core.constrained.Constraint constraint(dev.skipper.api.ResponseFormat format) throws SkipperException {
        return new dev.skipper.core.constrained.Constraint(grammars.compile(format), vocabulary());
    }

    dev.skipper.core.constrained.TokenVocabulary vocabulary() throws SkipperException {
        dev.skipper.core.constrained.TokenVocabulary v = vocabulary;
        if (v == null) {
            synchronized (this) {
                v = vocabulary;
                if (v == null) {
                    byte[][] bytes = tokenizer.tokenBytes();
                    if (bytes == null) {
                        throw new SkipperException("structured output needs the bytes of every token, and this "
                                + "bundle's tokenizer cannot give them (a byte-level BPE or SentencePiece one can)");
                    }
                    // The model's vocabulary may be larger than the tokenizer's: the extra ids decode to nothing.
                    byte[][] padded = Arrays.copyOf(bytes, Math.max(bytes.length, manifest().model().vocabSize()));
                    v = new dev.skipper.core.constrained.TokenVocabulary(
                            Arrays.copyOf(padded, manifest().model().vocabSize()), tokenizer.eosIds());
                    vocabulary = v;
                }
            }
        }
        return v;
    }

    /**
     * Encodes text for the model.
     *
     * @param text the text
     * @param continuation whether it continues a non-empty sequence: then no beginning-of-sequence
     *     token is prepended
     * @return the ids
     */
    int[] encode(String text, boolean continuation) {
        int[] ids = tokenizer.encode(text);
        Integer bos = manifest().tokenizer().bosId();
        if (bos == null || !manifest().tokenizer().addBos() || ids.length == 0 || ids[0] != bos) {
            return ids;
        }
        // The tokenizer prepended BOS: drop it mid-sequence, or when the text itself starts with
        // the BOS token (chat templates often write bos_token), which would double it.
        if (continuation || (ids.length > 1 && ids[1] == bos)) {
            return Arrays.copyOfRange(ids, 1, ids.length);
        }
        return ids;
    }

    /** @return sessions created and not closed yet (for leak checks) */
    int openSessionCount() {
        return sessions.size();
    }

    /** Called by a session's close. */
    void forget(DefaultSession session) {
        sessions.remove(session);
    }

    /**
     * Closes the open sessions (each waits for its running request to stop), then the runner and
     * the tokenizer. Idempotent.
     */
    @Override
    public void close() {
        List<DefaultSession> open;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            open = new ArrayList<>(sessions);
        }
        try {
            for (DefaultSession s : open) {
                s.close();
            }
        } finally {
            try {
                runner.close();
            } finally {
                tokenizer.close();
            }
        }
    }
}
