package dev.skipper.server;

import dev.skipper.api.GenerationStats;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntSupplier;

/**
 * The server's counters and histograms in Prometheus' text exposition format (version 0.0.4):
 * requests by endpoint and status, tokens in and out, time to first token and decode rate
 * histograms, speculation drafts and acceptances, queue depth, busy sessions and rejections.
 * Thread-safe; recording is lock-free except for the first sight of a new (endpoint, status).
 */
final class ServerMetrics {
    /** Bucket upper bounds of the time-to-first-token histogram, seconds. */
    static final double[] TTFT_BUCKETS = {0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    /** Bucket upper bounds of the decode-rate histogram, tokens per second. */
    static final double[] RATE_BUCKETS = {5, 10, 20, 40, 60, 80, 100, 150, 200, 400};

    private final Map<String, AtomicLong> requests = new TreeMap<>(); // "endpoint|status" -> count
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong completionTokens = new AtomicLong();
    private final AtomicLong drafted = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong rounds = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final Histogram ttft = new Histogram(TTFT_BUCKETS);
    private final Histogram rate = new Histogram(RATE_BUCKETS);
    private final IntSupplier queueDepth;
    private final IntSupplier busySessions;
    private final int sessions;

    ServerMetrics(IntSupplier queueDepth, IntSupplier busySessions, int sessions) {
        this.queueDepth = queueDepth;
        this.busySessions = busySessions;
        this.sessions = sessions;
    }

    void request(String endpoint, int status) {
        AtomicLong c;
        synchronized (requests) {
            c = requests.computeIfAbsent(endpoint + "|" + status, k -> new AtomicLong());
        }
        c.incrementAndGet();
    }

    void generation(GenerationStats s, boolean wasCancelled) {
        promptTokens.addAndGet(s.promptTokens());
        completionTokens.addAndGet(s.generatedTokens());
        drafted.addAndGet(s.speculation().drafted());
        accepted.addAndGet(s.speculation().accepted());
        rounds.addAndGet(s.speculation().rounds());
        if (wasCancelled) {
            cancelled.incrementAndGet();
        }
        if (s.generatedTokens() > 0 && s.ttftMillis() > 0) {
            ttft.observe(s.ttftMillis() / 1000.0);
        }
        if (s.generatedTokens() > 1 && Double.isFinite(s.decodeTokensPerSecond())) {
            rate.observe(s.decodeTokensPerSecond());
        }
    }

    /** @return the exposition text */
    String render() {
        StringBuilder sb = new StringBuilder(4096);
        sb.append("# HELP skipper_requests_total HTTP requests by endpoint and status (429: queue full).\n");
        sb.append("# TYPE skipper_requests_total counter\n");
        synchronized (requests) {
            for (Map.Entry<String, AtomicLong> e : requests.entrySet()) {
                String[] k = e.getKey().split("\\|", 2);
                sb.append("skipper_requests_total{endpoint=\"").append(k[0]).append("\",status=\"").append(k[1])
                        .append("\"} ").append(e.getValue().get()).append('\n');
            }
        }
        counter(sb, "skipper_prompt_tokens_total", "Prompt tokens of served requests.", promptTokens.get());
        counter(sb, "skipper_completion_tokens_total", "Tokens generated.", completionTokens.get());
        counter(sb, "skipper_speculation_drafted_total", "Draft tokens proposed.", drafted.get());
        counter(sb, "skipper_speculation_accepted_total", "Draft tokens accepted by verification.", accepted.get());
        counter(sb, "skipper_speculation_rounds_total", "Speculative rounds.", rounds.get());
        counter(sb, "skipper_cancelled_total", "Generations cut short (client gone, deadline, shutdown).",
                cancelled.get());
        ttft.render(sb, "skipper_time_to_first_token_seconds", "Time from request to first token.");
        rate.render(sb, "skipper_decode_tokens_per_second", "Decode rate of each generation after its first token.");
        gauge(sb, "skipper_queue_depth", "Requests waiting for a session.", queueDepth.getAsInt());
        gauge(sb, "skipper_sessions_busy", "Sessions generating now.", busySessions.getAsInt());
        gauge(sb, "skipper_sessions", "Sessions in the pool.", sessions);
        return sb.toString();
    }

    private static void counter(StringBuilder sb, String name, String help, long v) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(v).append('\n');
    }

    private static void gauge(StringBuilder sb, String name, String help, long v) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(v).append('\n');
    }

    /** A cumulative histogram with fixed buckets. */
    static final class Histogram {
        private final double[] bounds;
        private final AtomicLongArray counts; // [bounds + 1]: the last is +Inf
        private final AtomicLong count = new AtomicLong();
        private final AtomicLong sumMicros = new AtomicLong(); // sum x 1e6, as a long

        Histogram(double[] bounds) {
            this.bounds = bounds.clone();
            this.counts = new AtomicLongArray(bounds.length + 1);
        }

        void observe(double v) {
            int i = 0;
            while (i < bounds.length && v > bounds[i]) {
                i++;
            }
            counts.incrementAndGet(i);
            count.incrementAndGet();
            sumMicros.addAndGet(Math.round(v * 1e6));
        }

        void render(StringBuilder sb, String name, String help) {
            sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
            sb.append("# TYPE ").append(name).append(" histogram\n");
            long cum = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cum += counts.get(i);
                String le = i < bounds.length ? format(bounds[i]) : "+Inf";
                sb.append(name).append("_bucket{le=\"").append(le).append("\"} ").append(cum).append('\n');
            }
            sb.append(name).append("_sum ").append(format(sumMicros.get() / 1e6)).append('\n');
            sb.append(name).append("_count ").append(count.get()).append('\n');
        }

        private static String format(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
        }
    }
}
