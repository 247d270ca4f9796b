package dev.skipper.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.spi.BackendOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The process-wide ONNX Runtime environment and the thread settings every session gets.
 *
 * <p>A bundle has one session per graph (embed, every layer, head): about 32 sessions for a
 * 30-layer model. Each session with its own intra-op pool would own a set of worker threads, and
 * spinning workers of the idle sessions steal the cores of the running one. So the environment is
 * created with one <em>global</em> intra-op pool and every session is created with
 * {@code disablePerSessionThreads()}: all sessions of all runners share that one pool.
 *
 * <p>Limitation: {@link OrtEnvironment} is a JVM-wide singleton whose thread pool is fixed when it
 * is created, and {@code OrtEnvironment.close()} does nothing in ONNX Runtime 1.29. Consequences:
 *
 * <ul>
 *   <li>The first runner opened fixes the pool's thread count and spinning for the life of the
 *       process; later runners with other {@link BackendOptions} threads/spinning keep the first
 *       settings (a warning is logged).
 *   <li>If other code in the JVM created the environment first (any {@code
 *       OrtEnvironment.getEnvironment()} call), ONNX Runtime refuses a global pool; sessions then
 *       fall back to their own pools of {@code intraOpThreads} threads each, with spinning set per
 *       session from {@link BackendOptions#allowSpinning()} (slower with many layer sessions). A
 *       warning says so.
 * </ul>
 */
final class SharedEnvironment {
    // java.util.logging, not System.Logger: Android has no System.Logger (System.Logger goes to
    // java.util.logging on a JDK anyway, so the desktop sees no difference)
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(SharedEnvironment.class.getName());

    /** Logging id of the environment this backend creates. */
    static final String NAME = "skipper";

    /** Per-session pool size when the global pool is unavailable and the options say 0. */
    private static final int FALLBACK_SESSION_THREADS = 2;

    private static OrtEnvironment environment;
    private static boolean globalPool;
    private static BackendOptions firstOptions;

    private final OrtEnvironment env;
    private final boolean usesGlobalPool;
    private final BackendOptions options;

    private SharedEnvironment(OrtEnvironment env, boolean usesGlobalPool, BackendOptions options) {
        this.env = env;
        this.usesGlobalPool = usesGlobalPool;
        this.options = options;
    }

    /**
     * Returns the shared environment, creating it with a global thread pool on first use.
     *
     * @param asked thread count (capped at the available processors) and spinning (honoured by the
     *     first call only)
     * @return the environment and how its sessions must be configured
     * @throws SkipperException if ONNX Runtime cannot create an environment
     */
    static synchronized SharedEnvironment acquire(BackendOptions asked) throws SkipperException {
        // Skipper.open caps (with its warning) before a backend sees the options; this guards
        // direct SPI callers: a pool of hundreds of threads crashed ONNX Runtime in native code.
        BackendOptions options = asked.withThreadsAtMost(BackendOptions.availableProcessors());
        if (environment == null) {
            createOnLargeStack(options);
        } else if (globalPool
                && (firstOptions.intraOpThreads() != options.intraOpThreads()
                        || firstOptions.allowSpinning() != options.allowSpinning())) {
            LOG.log(java.util.logging.Level.WARNING,
                    "ONNX Runtime''s global thread pool was created with threads={0}, spinning={1}; "
                            + "it cannot change, so threads={2}, spinning={3} are ignored",
                    new Object[] {firstOptions.intraOpThreads(), firstOptions.allowSpinning(),
                    options.intraOpThreads(), options.allowSpinning()});
        }
        // The pool's settings are the first caller's; the per-session ones (arena, KV growth) are this caller's.
        return new SharedEnvironment(environment, globalPool, globalPool ? new BackendOptions(
                firstOptions.intraOpThreads(), firstOptions.allowSpinning(), options.device(), options.cpuArena(),
                options.growKvCache())
                : options);
    }

    /**
     * Runs {@link #create} on a thread whose stack grows with the process's command line.
     *
     * <p>Why: ONNX Runtime 1.29 parses the process command line ({@code /proc/self/cmdline}) when it
     * loads and creates its environment, recursively, with ~270 bytes of stack per byte of the
     * line. A Java thread's default stack (1 MB) overflows once the line passes ~4 KB, which a long
     * {@code -classpath} easily does (IDE and Gradle launches), and the JVM dies with SIGSEGV without
     * an error report. Measured: 100 KB and 125 KB lines work with the stack given here; the
     * stack is reserved address space, touched only as deep as the parse goes.
     */
    private static void createOnLargeStack(BackendOptions options) throws SkipperException {
        long stackBytes = (16L << 20) + 1024L * commandLineBytes();
        Throwable[] failure = new Throwable[1];
        Thread init = new Thread(null, () -> {
            try {
                create(options);
            } catch (SkipperException | RuntimeException | Error e) { // Error: e.g. the native library does not load
                failure[0] = e;
            }
        }, "skipper-ort-init", stackBytes);
        init.setDaemon(true);
        try {
            init.start();
        } catch (OutOfMemoryError e) {
            throw new SkipperException("cannot start a thread with a " + (stackBytes >> 20)
                    + " MB stack to create the ONNX Runtime environment: " + e.getMessage(), e);
        }
        boolean interrupted = false;
        while (true) { // not abandoned on interrupt: a second creation would race this one
            try {
                init.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure[0] instanceof SkipperException e) {
            throw e;
        } else if (failure[0] instanceof RuntimeException e) {
            throw e;
        } else if (failure[0] instanceof Error e) {
            throw e;
        }
    }

    /** @return the length of this process's command line, or 0 where the OS does not show it */
    private static long commandLineBytes() {
        try {
            return Files.readAllBytes(Path.of("/proc/self/cmdline")).length; // its size reads as 0
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static void create(BackendOptions options) throws SkipperException {
        try (OrtEnvironment.ThreadingOptions threading = new OrtEnvironment.ThreadingOptions()) {
            if (options.intraOpThreads() > 0) {
                threading.setGlobalIntraOpNumThreads(options.intraOpThreads());
            }
            threading.setGlobalInterOpNumThreads(1);
            threading.setGlobalSpinControl(options.allowSpinning());
            environment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, NAME, threading);
            globalPool = true;
            firstOptions = options;
        } catch (OrtException e) {
            throw new SkipperException("cannot set up ONNX Runtime's global thread pool: " + e.getMessage(), e);
        } catch (IllegalStateException e) {
            if (e.getCause() != null) {
                throw new SkipperException("cannot create the ONNX Runtime environment: " + e.getCause().getMessage(), e);
            }
            // Someone else created the singleton without a global pool: it cannot be replaced.
            environment = OrtEnvironment.getEnvironment();
            globalPool = false;
            firstOptions = options;
            LOG.log(java.util.logging.Level.WARNING,
                    "the ONNX Runtime environment already existed without a global thread pool; "
                            + "each session gets its own pool (slower with one session per layer)");
        }
    }

    /** @return whether host KV caches grow with their sequence (this caller's {@link BackendOptions}) */
    boolean growKvCache() {
        return options.growKvCache();
    }

    /** @return the environment, for sessions and tensors */
    OrtEnvironment env() {
        return env;
    }

    /** @return whether sessions share the global pool */
    boolean usesGlobalPool() {
        return usesGlobalPool;
    }

    /**
     * Session options for one graph: optimization level ALL, the bundle's config entries, and the
     * thread settings.
     *
     * @param configEntries {@code onnxruntime.session_config} of the manifest
     * @return new options; the caller closes them
     * @throws OrtException if ONNX Runtime rejects a setting
     */
    OrtSession.SessionOptions sessionOptions(Map<String, String> configEntries) throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        try {
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            if (usesGlobalPool) {
                so.disablePerSessionThreads();
            } else {
                int threads = options.intraOpThreads() > 0 ? options.intraOpThreads() : FALLBACK_SESSION_THREADS;
                so.setIntraOpNumThreads(threads);
                so.setInterOpNumThreads(1);
                so.addConfigEntry("session.intra_op.allow_spinning", options.allowSpinning() ? "1" : "0");
            }
            for (Map.Entry<String, String> e : configEntries.entrySet()) {
                so.addConfigEntry(e.getKey(), e.getValue());
            }
            // Off by default: 62 per-graph arenas each keep their graph's largest activations
            // (docs/benchmarks.md#memory).
            so.setCPUArenaAllocator(options.cpuArena());
            return so;
        } catch (OrtException | RuntimeException e) {
            so.close();
            throw e;
        }
    }
}
