package dev.skipper.core.tokenizer;

import dev.skipper.api.SkipperException;
import java.io.IOException;
import java.util.Locale;

/**
 * Keeps DJL (the Hugging Face tokenizers and SentencePiece bindings) off the network.
 *
 * <p>Both DJL artifacts carry their native libraries inside their jars
 * ({@code native/lib/<os>-<arch>/...}: linux x86_64 and aarch64, macOS arm64, Windows x86_64) and
 * copy them, on first use, to DJL's cache directory ({@code ~/.djl.ai/tokenizers/...} and
 * {@code ~/.djl.ai/sentencepiece/...}; {@code ENGINE_CACHE_DIR} or {@code DJL_CACHE_DIR} move it).
 * Left alone, DJL would still use the network in two places:
 *
 * <ul>
 *   <li>the tokenizers loader downloads a CUDA build of the library from
 *       {@code publish.djl.ai} when it sees a supported NVIDIA GPU and CUDA, or when
 *       {@code RUST_FLAVOR} names a CUDA flavour; with {@code RUST_FLAVOR=cpu} it only copies the
 *       CPU library from the jar (and fails, rather than downloading, when the jar has none for
 *       the platform);
 *   <li>creating a tokenizer "calls home" (EC2 instance metadata and DJL's telemetry bucket)
 *       unless offline mode ({@code ai.djl.offline}) or {@code OPT_OUT_TRACKING} is set.
 * </ul>
 *
 * <p>{@link #offline} sets the system properties {@code ai.djl.offline=true},
 * {@code OPT_OUT_TRACKING=true} and {@code RUST_FLAVOR=cpu} while DJL loads its library and
 * creates a tokenizer, and puts back the previous values afterwards, so that the rest of an
 * application's DJL use is left as it was. DJL reads environment variables before system
 * properties, so it refuses to go on when the environment would override them towards the
 * network.
 */
final class DjlNatives {
    private static final String[] KEYS = {"ai.djl.offline", "OPT_OUT_TRACKING", "RUST_FLAVOR"};
    private static final String[] VALUES = {"true", "true", "cpu"};

    private DjlNatives() {
    }

    /** Something that creates a DJL tokenizer. */
    @FunctionalInterface
    interface Loader<T> {
        /**
         * Creates it.
         *
         * @return the tokenizer
         * @throws IOException if a file cannot be read
         */
        T load() throws IOException;
    }

    /**
     * Runs a DJL tokenizer's creation with DJL's offline settings, one creation at a time.
     *
     * @param loader creates the tokenizer
     * @param <T> its type
     * @return the tokenizer
     * @throws SkipperException if environment variables would make DJL download or call home
     * @throws IOException if the loader cannot read a file
     */
    static synchronized <T> T offline(Loader<T> loader) throws SkipperException, IOException {
        checkEnvironment();
        String[] saved = new String[KEYS.length];
        for (int i = 0; i < KEYS.length; i++) {
            saved[i] = System.setProperty(KEYS[i], VALUES[i]);
        }
        try {
            return loader.load();
        } finally {
            for (int i = 0; i < KEYS.length; i++) {
                if (saved[i] == null) {
                    System.clearProperty(KEYS[i]);
                } else {
                    System.setProperty(KEYS[i], saved[i]);
                }
            }
        }
    }

    private static void checkEnvironment() throws SkipperException {
        String flavor = System.getenv("RUST_FLAVOR");
        if (flavor != null && !flavor.isEmpty() && !flavor.toLowerCase(Locale.ROOT).equals("cpu")) {
            throw new SkipperException("environment variable RUST_FLAVOR=" + flavor
                    + " makes DJL download a native tokenizers library; unset it or set it to cpu"
                    + " (Skipper uses the CPU library inside the tokenizers jar)");
        }
        String offline = System.getenv("DJL_OFFLINE");
        String optOut = System.getenv("OPT_OUT_TRACKING");
        if (offline != null && !Boolean.parseBoolean(offline) && optOut != null && !Boolean.parseBoolean(optOut)) {
            throw new SkipperException("environment variables DJL_OFFLINE=" + offline + " and OPT_OUT_TRACKING="
                    + optOut + " let DJL contact the network when a tokenizer opens; unset one of them");
        }
    }

    /**
     * A one-line description of a failure, for a {@link SkipperException} message.
     *
     * @param t the failure
     * @return its message on one line (or its class name)
     */
    static String describe(Throwable t) {
        Throwable root = t;
        while ((root instanceof ExceptionInInitializerError || root.getMessage() == null) && root.getCause() != null
                && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        String text = message == null || message.isBlank()
                ? root.getClass().getSimpleName()
                : message.strip().replaceAll("\\s+", " ");
        return text.length() > 300 ? text.substring(0, 300) + "..." : text;
    }
}
