package dev.skipper.examples;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import dev.skipper.runtime.StopSignals;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A long-running service on one deployment file, the shape of a device's on-board assistant:
 * requests arrive as JSON lines on stdin, wait in a bounded queue and are answered one at a time
 * as JSON lines on stdout; the log (stderr) gets a stats line every {@value #STATS_EVERY} requests
 * or {@value #STATS_SECONDS} s.
 *
 * <p>Requests: {@code {"id": "r1", "prompt": "...", "chat": true, "max_tokens": 64}} ({@code chat}
 * and {@code max_tokens} optional: the deployment's generation settings apply) or
 * {@code {"reload": true}}. Answers: {@code {"id", "text", "finish_reason", "tokens",
 * "tokens_per_second", "queue_ms"}}, {@code {"id", "reloaded": true|false}} or {@code {"id", "error"}}.
 *
 * <p>Config changes: when the deployment file changes (checked every second) or on a reload
 * request, the service opens a new engine from the file and only then closes the old one; a file
 * with an error is reported in one line and the service keeps serving with the last good
 * configuration. An error in the file at start is fatal (exit 2). End of input drains the queue and
 * exits 0; SIGTERM cancels the running request, closes the engine and exits 143.
 */
public final class DeviceService {
    static final int QUEUE_CAPACITY = 16;
    static final int STATS_EVERY = 10;
    static final int STATS_SECONDS = 60;
    static final int MAX_LINE_CHARS = 256 * 1024;
    private static final JsonObject END = new JsonObject(); // end of input, behind every request

    private final Path deployment;
    private final PrintStream out;
    private final PrintStream log;
    private final BlockingQueue<JsonObject> queue = new ArrayBlockingQueue<>(QUEUE_CAPACITY + 1); // +1: END
    private Engine engine;
    private Session session;
    private DeploymentConfig config;
    private FileTime loadedAt;
    private volatile boolean stopping;
    // stats since the last stats line
    private int served;
    private int failed;
    private long generatedTokens;
    private double decodeSeconds;
    private long lastStatsNanos = System.nanoTime();

    private DeviceService(Path deployment, PrintStream out, PrintStream log) {
        this.deployment = deployment;
        this.out = out;
        this.log = log;
    }

    /**
     * @param args the deployment file ({@code *.yaml})
     * @throws Exception on an unexpected failure
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 1 || args[0].startsWith("-")) {
            System.err.println("usage: DeviceService DEPLOYMENT.yaml   (requests: JSON lines on stdin)");
            System.exit(2);
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        DeviceService service = new DeviceService(Path.of(args[0]), out, System.err);
        try {
            service.open();
        } catch (IOException | SkipperException e) {
            System.err.println("error: " + SkipperException.oneLine(e.getMessage()));
            System.exit(2);
        }
        Thread worker = Thread.currentThread();
        // SIGTERM (systemd's stop), SIGHUP, Ctrl-C: cancel the running request and let the worker
        // close the engine, then exit (143, 129, 130). Not a shutdown hook: ONNX Runtime's Java
        // binding frees its native environment in a hook of its own, concurrently with every other
        // hook, under a generation still running (docs/integrations.md, "Stopping a service").
        StopSignals.install(() -> {
            service.stopping = true;
            service.cancelRunning();
            worker.interrupt();
            try {
                worker.join(10_000);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        });
        Thread reader = new Thread(() -> service.readRequests(
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))), "device-service-stdin");
        reader.setDaemon(true);
        reader.start();
        service.serve();
    }

    /** Opens the engine on the deployment file (at start: errors are the caller's). */
    private void open() throws IOException, SkipperException {
        FileTime mtime = Files.getLastModifiedTime(deployment);
        DeploymentConfig cfg = DeploymentConfigLoader.load(deployment);
        Engine e = Skipper.open(cfg);
        // Loading leaves ~10 MB of garbage in the old generation that nothing collects again: one
        // full collection now gives it back (with configs/jvm-memory.options' -XX:-ShrinkHeapInSteps).
        System.gc();
        Session s;
        try {
            s = e.newSession();
        } catch (SkipperException | RuntimeException ex) {
            e.close();
            throw ex;
        }
        Session oldSession = session;
        Engine oldEngine = engine;
        synchronized (this) {
            engine = e;
            session = s;
        }
        config = cfg;
        loadedAt = mtime;
        if (oldSession != null) {
            oldSession.close();
        }
        if (oldEngine != null) {
            oldEngine.close();
        }
        log.printf("device-service: serving %s (%s, context %d) from %s%n", e.model().name(),
                e.backendName(), s.contextLength(), deployment);
    }

    /** A new configuration, or the old one kept with a one-line reason; whether it was swapped. */
    private boolean reload(String why) {
        try {
            open();
            log.println("device-service: reloaded (" + why + ")");
            return true;
        } catch (IOException | SkipperException | RuntimeException e) {
            try {
                loadedAt = Files.getLastModifiedTime(deployment); // report a bad file once, not every second
            } catch (IOException ignored) {
                // the file is gone: keep checking
            }
            log.println("device-service: config error, still serving the previous configuration: "
                    + SkipperException.oneLine(String.valueOf(e.getMessage())));
            return false;
        }
    }

    private synchronized void cancelRunning() {
        if (session != null) {
            session.cancel();
        }
    }

    /** The stdin thread: parses lines into the queue; refuses what does not fit or parse. */
    private void readRequests(BufferedReader in) {
        try {
            StringBuilder buf = new StringBuilder();
            while (true) {
                // a line of at most MAX_LINE_CHARS is kept; the rest of a longer one is read and dropped
                boolean tooLong = false;
                buf.setLength(0);
                int c;
                while ((c = in.read()) >= 0 && c != '\n') {
                    if (buf.length() < MAX_LINE_CHARS) {
                        buf.append((char) c);
                    } else {
                        tooLong = true;
                    }
                }
                if (c < 0 && buf.length() == 0 && !tooLong) {
                    break;
                }
                String line = buf.toString();
                if (tooLong) {
                    answerError(null, "bad request: a line over " + MAX_LINE_CHARS + " characters");
                } else if (!line.isBlank()) {
                    offer(line);
                }
                if (c < 0) {
                    break;
                }
            }
        } catch (IOException e) {
            log.println("device-service: stdin failed: " + e.getMessage());
        }
        try {
            queue.put(END);
        } catch (InterruptedException ignored) {
            Thread.currentThread().interrupt();
        }
    }

    private void offer(String line) {
        JsonElement e = null;
        try {
            e = JsonParser.parseString(line);
        } catch (JsonParseException ignored) {
            // answered below
        }
        if (e == null || !e.isJsonObject()) {
            answerError(null, "bad request: not a JSON object on one line");
            return;
        }
        JsonObject req = e.getAsJsonObject();
        req.addProperty("_queued_nanos", System.nanoTime());
        if (!queue.offer(req)) {
            answerError(id(req), "queue full (" + QUEUE_CAPACITY + " requests wait)");
        }
    }

    /** The worker: one request at a time until end of input or SIGTERM. */
    private void serve() {
        try {
            while (!stopping) {
                JsonObject req = queue.poll(1, TimeUnit.SECONDS);
                if (!stopping && changed()) {
                    reload("the deployment file changed");
                }
                if (req == END) {
                    break;
                }
                if (req != null) {
                    handle(req);
                }
                if (served + failed >= STATS_EVERY
                        || System.nanoTime() - lastStatsNanos > TimeUnit.SECONDS.toNanos(STATS_SECONDS)) {
                    stats();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stats();
            synchronized (this) {
                session.close();
                engine.close();
            }
            log.println("device-service: stopped");
        }
    }

    private boolean changed() {
        try {
            return !Files.getLastModifiedTime(deployment).equals(loadedAt);
        } catch (IOException e) {
            return false; // a file being replaced: look again next time
        }
    }

    private void handle(JsonObject req) {
        String id = id(req);
        if (req.has("reload")) {
            JsonObject a = new JsonObject();
            a.addProperty("id", id);
            if (!req.get("reload").isJsonPrimitive() || !req.get("reload").getAsJsonPrimitive().isBoolean()
                    || !req.get("reload").getAsBoolean()) {
                answerError(id, "reload: must be true");
                return;
            }
            a.addProperty("reloaded", reload("requested"));
            out.println(a);
            return;
        }
        try {
            if (!req.has("prompt") || !req.get("prompt").isJsonPrimitive() || !req.get("prompt").getAsJsonPrimitive().isString()) {
                throw new IllegalArgumentException("prompt: required, a string");
            }
            String prompt = req.get("prompt").getAsString();
            boolean chat = !req.has("chat") || req.get("chat").getAsBoolean();
            GenerationOptions options = config.generation().toOptions();
            if (req.has("max_tokens")) {
                int n = req.get("max_tokens").getAsInt();
                if (n < 1 || n > session.contextLength()) {
                    throw new IllegalArgumentException("max_tokens: " + n + " is outside [1, " + session.contextLength() + "]");
                }
                options = new GenerationOptions(n, options.sampling(), options.stopStrings(), options.stopAtEos(),
                        options.speculation(), options.adaptiveDepth(), options.format());
            }
            long queuedNanos = req.get("_queued_nanos").getAsLong();
            GenerationResult r = chat ? session.reply(List.of(ChatMessage.user(prompt)), options, null)
                    : session.complete(prompt, options, null);
            JsonObject a = new JsonObject();
            a.addProperty("id", id);
            a.addProperty("text", r.text());
            a.addProperty("finish_reason", r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
            a.addProperty("tokens", r.stats().generatedTokens());
            a.addProperty("tokens_per_second", Math.round(r.stats().decodeTokensPerSecond() * 10) / 10.0);
            a.addProperty("queue_ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - queuedNanos));
            out.println(a);
            served++;
            generatedTokens += r.stats().generatedTokens();
            double tps = r.stats().decodeTokensPerSecond();
            decodeSeconds += tps > 0 ? r.stats().generatedTokens() / tps : 0;
        } catch (SkipperException | RuntimeException e) { // one bad request never ends the service
            failed++;
            answerError(id, SkipperException.oneLine(String.valueOf(e.getMessage())));
        }
    }

    private static String id(JsonObject req) {
        JsonElement id = req.get("id");
        return id != null && id.isJsonPrimitive() ? id.getAsString() : null;
    }

    private void answerError(String id, String message) {
        JsonObject a = new JsonObject();
        a.addProperty("id", id);
        a.addProperty("error", message);
        out.println(a);
    }

    private void stats() {
        if (served + failed > 0) {
            log.printf("device-service: stats: %d served, %d failed, %d tokens, %.1f tok/s decode, %d waiting%n",
                    served, failed, generatedTokens, decodeSeconds > 0 ? generatedTokens / decodeSeconds : 0.0,
                    Math.max(0, queue.size()));
        }
        served = 0;
        failed = 0;
        generatedTokens = 0;
        decodeSeconds = 0;
        lastStatsNanos = System.nanoTime();
    }
}
