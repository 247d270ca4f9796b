package dev.skipper.core.config;

import dev.skipper.bundle.yaml.HardenedYaml;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.NodeReader.Section;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.runtime.spi.DeviceOptions;
import dev.skipper.runtime.spi.DevicePrecision;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.DoublePredicate;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * Reads deployment files ({@code configs/*.yaml}; schema in {@code docs/configuration.md}).
 *
 * <p>The YAML is composed into a node tree under size, alias and nesting limits and never turned
 * into objects by SnakeYAML ({@link HardenedYaml}); the tree is then walked against the schema
 * below: unknown keys, duplicate keys, wrong types, out-of-range values and missing required keys
 * all fail with a {@link ConfigException} whose one-line message is {@code FILE:LINE: key.path:
 * problem}. An empty value ({@code key:} or {@code key: ~}) means the key's default.
 *
 * <p>{@code bundle} is resolved against the folder of the YAML file unless it is absolute. Nothing
 * is checked on disk here (the bundle may be exported later); the session checks it when it opens.
 *
 * <p>Stateless and thread-safe.
 */
public final class DeploymentConfigLoader {
    /** Most code points a deployment file may have (deployment files are a few KB). */
    public static final int MAX_CODE_POINTS = 256 * 1024;

    /** YAML limits: 8 aliases to collections, nesting 8 deep (the schema itself needs 3). */
    private static final HardenedYaml.Limits LIMITS = new HardenedYaml.Limits(MAX_CODE_POINTS, 8, 8);

    /** Largest file accepted, in bytes (4 per code point at most in UTF-8). */
    public static final long MAX_FILE_BYTES = 4L * MAX_CODE_POINTS;

    private static final List<String> TOP_KEYS = List.of("bundle", "backend", "threads", "allow_spinning",
            "context_length", "generation", "speculation", "adaptive_depth", "gpu", "server", "memory");
    private static final List<String> GENERATION_KEYS = List.of("max_new_tokens", "stop", "sampling");
    private static final List<String> SAMPLING_KEYS = List.of("greedy", "temperature", "top_k", "top_p", "min_p",
            "repetition_penalty", "seed");
    private static final List<String> SPECULATION_KEYS = List.of("mode", "exit_layer", "skip_layers",
            "max_draft_tokens", "confidence_threshold", "ngram_size", "adaptive");
    private static final List<String> ADAPTIVE_DEPTH_KEYS = List.of("enabled", "precision");
    private static final List<String> GPU_KEYS = List.of("device", "precision", "engine_cache");
    private static final List<String> MEMORY_KEYS = List.of("cpu_arena", "kv_cache");
    private static final List<String> SERVER_KEYS = List.of("host", "port", "sessions", "queue", "max_body_bytes",
            "request_timeout_s", "shutdown_grace_s", "api_key_file");

    private DeploymentConfigLoader() {
    }

    /**
     * Reads and validates a deployment file.
     *
     * @param yaml the file
     * @return the deployment; its {@link DeploymentConfig#source()} is {@code yaml} made absolute
     * @throws ConfigException when the file is missing, too large, not UTF-8, not valid YAML or
     *     breaks the schema
     * @throws IOException when the file cannot be read
     */
    public static DeploymentConfig load(Path yaml) throws ConfigException, IOException {
        Objects.requireNonNull(yaml, "yaml");
        if (Files.isDirectory(yaml)) {
            throw new ConfigException(yaml, 0, null, "is a directory, not a deployment file", null);
        }
        long size;
        try {
            size = Files.size(yaml);
        } catch (NoSuchFileException e) {
            throw new ConfigException(yaml, 0, null, "no such file", e);
        }
        if (size > MAX_FILE_BYTES) {
            throw new ConfigException(yaml, 0, null, "too large: " + size + " bytes (at most " + MAX_FILE_BYTES + ")", null);
        }
        String text;
        try {
            text = HardenedYaml.decodeUtf8(Files.readAllBytes(yaml));
        } catch (CharacterCodingException e) {
            throw new ConfigException(yaml, 0, null, "not valid UTF-8", e);
        }
        return parse(text, yaml);
    }

    /**
     * Validates deployment YAML given as text, as if read from {@code source} (for tests, and for
     * files that come from elsewhere, such as Android assets).
     *
     * @param text the YAML
     * @param source the path it stands for: named in messages, and a relative {@code bundle} is
     *     resolved against its folder
     * @return the deployment
     * @throws ConfigException when the text is invalid
     */
    public static DeploymentConfig parse(String text, Path source) throws ConfigException {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(source, "source");
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1); // a UTF-8 byte order mark some editors write
        }
        int codePoints = text.codePointCount(0, text.length());
        if (codePoints > MAX_CODE_POINTS) {
            throw new ConfigException(source, 0, null, "too large: " + codePoints + " code points (at most "
                    + MAX_CODE_POINTS + ")", null);
        }
        Node root;
        try {
            root = HardenedYaml.compose(text, LIMITS);
        } catch (HardenedYaml.Failure e) {
            String hint = e.problem().contains("Nesting") ? " (a deployment file needs at most 3 levels)" : "";
            throw new ConfigException(source, e.line(), e.keyPath(), e.problem() + hint, e);
        }
        if (root == null) {
            throw new ConfigException(source, 0, null, "the file is empty (it needs at least a bundle: key)", null);
        }
        return new Walk(new NodeReader(source), source.toAbsolutePath().normalize()).deployment(root);
    }

    /** One walk of the schema over a node tree. */
    private static final class Walk {
        private final NodeReader r;
        private final Path source;

        Walk(NodeReader r, Path source) {
            this.r = r;
            this.source = source;
        }

        DeploymentConfig deployment(Node root) throws ConfigException {
            Section top = r.section(root, TOP_KEYS);
            Path bundle = bundle(top.required("bundle"));
            List<BackendChoice> backends = backends(top.optional("backend"));
            int threads = intOr(top, "threads", 0, DeploymentConfig.MAX_THREADS, 0);
            Node spin = top.optional("allow_spinning");
            boolean allowSpinning = spin == null ? BackendOptions.DEFAULTS.allowSpinning() : r.bool(spin, "allow_spinning");
            int context = intOr(top, "context_length", 0, DeploymentConfig.MAX_CONTEXT_LENGTH, 0);
            Section gen = top.optionalSection("generation", GENERATION_KEYS);
            GenerationDefaults generation = gen == null ? GenerationDefaults.DEFAULTS : generation(gen);
            Section spec = top.optionalSection("speculation", SPECULATION_KEYS);
            SpeculationConfig speculation = spec == null ? SpeculationConfig.OFF : speculation(spec);
            Section depth = top.optionalSection("adaptive_depth", ADAPTIVE_DEPTH_KEYS);
            if (depth != null) {
                speculation = speculation.withAdaptiveDepth(adaptiveDepth(depth));
            }
            Section gpuSection = top.optionalSection("gpu", GPU_KEYS);
            DeviceOptions gpu = gpuSection == null ? DeviceOptions.DEFAULTS : gpu(gpuSection);
            Section serverSection = top.optionalSection("server", SERVER_KEYS);
            ServerSettings server = serverSection == null ? ServerSettings.DEFAULTS : server(serverSection);
            Section memorySection = top.optionalSection("memory", MEMORY_KEYS);
            MemorySettings memory = MemorySettings.DEFAULTS;
            if (memorySection != null) {
                Node arena = memorySection.optional("cpu_arena");
                Node kv = memorySection.optional("kv_cache");
                memory = new MemorySettings(arena == null ? MemorySettings.DEFAULTS.cpuArena()
                        : r.bool(arena, memorySection.child("cpu_arena")),
                        kv == null ? MemorySettings.DEFAULTS.kvCache()
                        : r.choice(kv, memorySection.child("kv_cache"), KvAllocation.values(), KvAllocation::yamlName));
            }
            try {
                return new DeploymentConfig(bundle, backends, threads, allowSpinning, context, generation,
                        speculation, gpu, server, memory, source);
            } catch (IllegalArgumentException e) { // every rule is checked above; this is a backstop
                throw r.fail(root, null, e.getMessage());
            }
        }

        private Path bundle(Node node) throws ConfigException {
            return path(node, "bundle");
        }

        /** A folder path, relative to the YAML file unless absolute. */
        private Path path(Node node, String key) throws ConfigException {
            String text = r.string(node, key);
            if (text.isBlank()) {
                throw r.fail(node, key, "must not be empty");
            }
            if (text.startsWith("~")) {
                throw r.fail(node, key, "'~' is not expanded; write an absolute path or one relative to this file");
            }
            Path path;
            try {
                path = Path.of(text);
            } catch (InvalidPathException e) {
                throw r.fail(node, key, "is not a valid path: " + e.getReason());
            }
            // Relative to the YAML file, not the working directory: the file then works from anywhere.
            return path.isAbsolute() ? path.normalize() : source.getParent().resolve(path).normalize();
        }

        /** One backend or a list of them (fallback order). */
        private List<BackendChoice> backends(Node node) throws ConfigException {
            if (node == null) {
                return DeploymentConfig.DEFAULT_BACKENDS;
            }
            List<BackendChoice> out = new ArrayList<>();
            if (node instanceof SequenceNode) {
                List<Node> items = r.list(node, "backend");
                for (int i = 0; i < items.size(); i++) {
                    out.add(r.choice(items.get(i), NodeReader.element("backend", i), BackendChoice.values(),
                            BackendChoice::yamlName));
                }
            } else {
                out.add(r.choice(node, "backend", BackendChoice.values(), BackendChoice::yamlName));
            }
            String problem = DeploymentConfig.backendsProblem(out);
            if (problem != null) {
                throw r.fail(node, "backend", problem);
            }
            return List.copyOf(out);
        }

        private GenerationDefaults generation(Section s) throws ConfigException {
            int maxNew = intOr(s, "max_new_tokens", 1, GenerationDefaults.MAX_NEW_TOKENS_LIMIT,
                    GenerationDefaults.DEFAULT_MAX_NEW_TOKENS);
            List<String> stop = stop(s.optional("stop"), s.child("stop"));
            Section sampling = s.optionalSection("sampling", SAMPLING_KEYS);
            SamplingOptions options = sampling == null ? SamplingOptions.GREEDY : sampling(sampling);
            return new GenerationDefaults(maxNew, options, stop);
        }

        /** One stop string or a list of them. */
        private List<String> stop(Node node, String path) throws ConfigException {
            if (node == null) {
                return List.of();
            }
            List<Node> items = node instanceof ScalarNode ? List.of(node) : r.list(node, path);
            List<String> out = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) {
                String at = node == items.get(i) ? path : NodeReader.element(path, i);
                String s = r.string(items.get(i), at);
                if (s.isEmpty()) {
                    throw r.fail(items.get(i), at, "must not be empty");
                }
                out.add(s);
            }
            return out;
        }

        private SamplingOptions sampling(Section s) throws ConfigException {
            // greedy is required so that "temperature: 0.7" alone cannot silently decode greedily.
            boolean greedy = r.bool(s.required("greedy"), s.child("greedy"));
            SamplingOptions d = SamplingOptions.GREEDY;
            double temperature = numberOr(s, "temperature", v -> v > 0 && v < Double.POSITIVE_INFINITY, "> 0",
                    d.temperature());
            int topK = intOr(s, "top_k", 0, Integer.MAX_VALUE, d.topK());
            double topP = numberOr(s, "top_p", v -> v > 0 && v <= 1, "in (0, 1]", d.topP());
            double minP = numberOr(s, "min_p", v -> v >= 0 && v < 1, "in [0, 1)", d.minP());
            double penalty = numberOr(s, "repetition_penalty", v -> v >= 1 && v < Double.POSITIVE_INFINITY, ">= 1",
                    d.repetitionPenalty());
            Node seedNode = s.optional("seed");
            long seed = seedNode == null ? d.seed() : r.integer(seedNode, s.child("seed"), Long.MIN_VALUE, Long.MAX_VALUE);
            return new SamplingOptions(greedy, temperature, topK, topP, minP, penalty, seed);
        }

        /** {@code gpu}: device, engine precision and engine cache of the GPU backends. */
        private DeviceOptions gpu(Section s) throws ConfigException {
            int device = intOr(s, "device", 0, DeviceOptions.MAX_DEVICE, 0);
            Node p = s.optional("precision");
            DevicePrecision precision = DevicePrecision.AUTO;
            if (p != null) {
                try {
                    precision = DevicePrecision.parse(r.string(p, s.child("precision")));
                } catch (IllegalArgumentException e) {
                    throw r.fail(p, s.child("precision"), e.getMessage());
                }
            }
            Node cache = s.optional("engine_cache");
            return new DeviceOptions(device, precision, cache == null ? null : path(cache, s.child("engine_cache")));
        }

        private ServerSettings server(Section s) throws ConfigException {
            ServerSettings d = ServerSettings.DEFAULTS;
            Node h = s.optional("host");
            String host = h == null ? d.host() : r.string(h, s.child("host"));
            if (host.isBlank()) {
                throw r.fail(h, s.child("host"), "must not be empty");
            }
            int port = intOr(s, "port", 0, 65535, d.port());
            int sessions = intOr(s, "sessions", 1, ServerSettings.MAX_SESSIONS, d.sessions());
            int queue = intOr(s, "queue", 0, ServerSettings.MAX_QUEUE, d.queue());
            int body = intOr(s, "max_body_bytes", 1024, 64 << 20, d.maxBodyBytes());
            double timeout = numberOr(s, "request_timeout_s", v -> v > 0 && v <= 86_400, "in (0, 86400]",
                    d.requestTimeoutSeconds());
            double grace = numberOr(s, "shutdown_grace_s", v -> v >= 0 && v <= 3600, "in [0, 3600]",
                    d.shutdownGraceSeconds());
            Node key = s.optional("api_key_file");
            Path keyFile = key == null ? null : path(key, s.child("api_key_file"));
            return new ServerSettings(host, port, sessions, queue, body, timeout, grace, keyFile);
        }

        /** {@code adaptive_depth}: LOSSY early exit during decoding; enabled must be said explicitly. */
        private dev.skipper.api.AdaptiveDepth adaptiveDepth(Section s) throws ConfigException {
            boolean enabled = r.bool(s.required("enabled"), s.child("enabled"));
            double precision = numberOr(s, "precision", v -> v >= 0.5 && v <= 1, "in [0.5, 1]",
                    dev.skipper.api.AdaptiveDepth.DEFAULT_PRECISION);
            return new dev.skipper.api.AdaptiveDepth(enabled, precision);
        }

        private SpeculationConfig speculation(Section s) throws ConfigException {
            // mode is required so that tuning keys alone cannot look like speculation is on.
            SpeculationMode mode = r.choice(s.required("mode"), s.child("mode"),
                    SpeculationMode.values(), SpeculationMode::yamlName);
            Node exitNode = s.optional("exit_layer");
            Integer exitLayer = exitNode == null ? null
                    : (int) r.integer(exitNode, s.child("exit_layer"), 1, SpeculationConfig.MAX_LAYER);
            List<Integer> skip = skipLayers(s.optional("skip_layers"), s.child("skip_layers"));
            int maxDraft = intOr(s, "max_draft_tokens", 1, SpeculationConfig.MAX_DRAFT_TOKENS_LIMIT,
                    SpeculationConfig.DEFAULT_MAX_DRAFT_TOKENS);
            double threshold = numberOr(s, "confidence_threshold", v -> v >= 0 && v <= 1, "in [0, 1]",
                    SpeculationConfig.DEFAULT_CONFIDENCE_THRESHOLD);
            int ngram = intOr(s, "ngram_size", 1, SpeculationConfig.MAX_NGRAM_SIZE, SpeculationConfig.DEFAULT_NGRAM_SIZE);
            Node adaptiveNode = s.optional("adaptive");
            boolean adaptive = adaptiveNode == null || r.bool(adaptiveNode, s.child("adaptive"));
            return new SpeculationConfig(mode, exitLayer, maxDraft, threshold, skip, ngram, adaptive);
        }

        private List<Integer> skipLayers(Node node, String path) throws ConfigException {
            if (node == null) {
                return null;
            }
            List<Node> items = r.list(node, path);
            if (items.isEmpty()) {
                throw r.fail(node, path, "must not be empty (leave it out to let the session choose)");
            }
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) {
                int layer = (int) r.integer(items.get(i), NodeReader.element(path, i), 0, SpeculationConfig.MAX_LAYER - 1);
                if (out.contains(layer)) {
                    throw r.fail(items.get(i), NodeReader.element(path, i), "layer " + layer + " is listed twice");
                }
                out.add(layer);
            }
            return out;
        }

        private int intOr(Section s, String key, int min, int max, int dflt) throws ConfigException {
            Node node = s.optional(key);
            return node == null ? dflt : (int) r.integer(node, s.child(key), min, max);
        }

        private double numberOr(Section s, String key, DoublePredicate ok, String range,
                                double dflt) throws ConfigException {
            Node node = s.optional(key);
            return node == null ? dflt : r.number(node, s.child(key), ok, range);
        }
    }
}
