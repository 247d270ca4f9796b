package dev.skipper.tensorrt;

import dev.skipper.runtime.profiles.EngineSpec;
import dev.skipper.api.SkipperException;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Built engines on disk, so that a plan is built once per device and bundle (minutes on a Jetson)
 * and every later open only deserializes it.
 *
 * <p>Key: TensorRT version, GPU name and compute capability, the graph file's SHA-256 (from the
 * manifest, verified on open), and the build spec (precision, workspace, every profile's ranges).
 * A plan file is {@code <graph>-<sha256(key)[0..16]>.plan}; a changed key therefore names another
 * file and rebuilds. Each file is a container: magic {@value #MAGIC}, the whole key (compared, so a
 * hash collision cannot pick a wrong plan), the plan's length and SHA-256, then the plan. A missing,
 * truncated, corrupt or foreign file is detected here, before any byte reaches TensorRT, and rebuilt.
 * Writes go to a temp file in the same directory and are renamed over the target (atomic on POSIX).
 *
 * <p>The timing cache ({@code timing-<sha256(version, device)[0..16]>.cache}) is loaded before the
 * first build and saved after each; TensorRT validates its contents itself.
 */
public final class EngineCache {
    /** First bytes of every plan file. */
    static final String MAGIC = "SKPTRT01";
    /** Refuse containers whose key claims more than this (a corrupt length must not allocate). */
    private static final int MAX_KEY_BYTES = 1 << 16;

    private final Path dir;
    private final String deviceKey; // TensorRT version + device name + compute capability
    private final Consumer<String> log;

    /**
     * @param dir the cache directory (created on the first write)
     * @param tensorrtVersion the runtime's TensorRT version
     * @param device the device
     * @param log where one-line notices go (a rebuilt corrupt plan)
     */
    public EngineCache(Path dir, String tensorrtVersion, TrtNative.DeviceInfo device, Consumer<String> log) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.deviceKey = "tensorrt=" + tensorrtVersion + ";device=" + device.name() + ";cc=" + device.computeCapability();
        this.log = Objects.requireNonNull(log, "log");
    }

    /** @return the cache directory */
    public Path directory() {
        return dir;
    }

    /**
     * The full key of one engine.
     *
     * @param graphSha256 the graph file's SHA-256
     * @param spec its build spec
     * @return the key
     */
    public String key(String graphSha256, EngineSpec spec) {
        return deviceKey + ";graph=" + graphSha256 + ";" + spec.describe();
    }

    /**
     * @param graphName a file-name-safe name of the graph ({@code layer_3})
     * @param key its key
     * @return where its plan lives
     */
    public Path planPath(String graphName, String key) {
        return dir.resolve(graphName + "-" + sha256Hex(key.getBytes(StandardCharsets.UTF_8)).substring(0, 16) + ".plan");
    }

    /** @return where the timing cache of this TensorRT version and device lives */
    public Path timingCachePath() {
        return dir.resolve("timing-" + sha256Hex(deviceKey.getBytes(StandardCharsets.UTF_8)).substring(0, 16) + ".cache");
    }

    /**
     * Reads a cached plan.
     *
     * @param graphName the graph's name
     * @param key its key
     * @return the plan, or null when there is none or it is unusable (logged once, one line)
     */
    public byte[] load(String graphName, String key) {
        Path file = planPath(graphName, key);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            byte[] plan = unwrap(Files.readAllBytes(file), key);
            return plan;
        } catch (IOException | OutOfMemoryError e) {
            log.accept("engine cache: " + file + " is unusable (" + SkipperException.oneLine(e.getMessage()) + "); rebuilding it");
            return null;
        }
    }

    /**
     * Writes a plan atomically (temp file + rename).
     *
     * @param graphName the graph's name
     * @param key its key
     * @param plan the plan
     * @throws SkipperException when the directory cannot be written (the message names it)
     */
    public void store(String graphName, String key, byte[] plan) throws SkipperException {
        writeAtomic(planPath(graphName, key), wrap(key, plan));
    }

    /** @return the saved timing cache, or null */
    public byte[] loadTimingCache() {
        Path file = timingCachePath();
        try {
            return Files.isRegularFile(file) ? Files.readAllBytes(file) : null;
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * @param bytes a serialized timing cache
     * @throws SkipperException when it cannot be written
     */
    public void storeTimingCache(byte[] bytes) throws SkipperException {
        writeAtomic(timingCachePath(), bytes);
    }

    /**
     * The container bytes of a plan.
     *
     * @param key the engine's key
     * @param plan the plan
     * @return magic, key, length, SHA-256, plan
     */
    static byte[] wrap(String key, byte[] plan) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(plan.length + k.length + 64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC.getBytes(StandardCharsets.US_ASCII));
            out.writeInt(k.length);
            out.write(k);
            out.writeLong(plan.length);
            out.write(sha256(plan));
            out.write(plan);
        } catch (IOException e) {
            throw new AssertionError(e); // in memory
        }
        return bytes.toByteArray();
    }

    /**
     * Checks a container and returns its plan.
     *
     * @param file the container bytes
     * @param key the key it must hold
     * @return the plan
     * @throws IOException naming what is wrong (truncated, bad magic, another key, checksum)
     */
    static byte[] unwrap(byte[] file, String key) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(file);
        byte[] magic = MAGIC.getBytes(StandardCharsets.US_ASCII);
        if (file.length < magic.length + 4 || !Arrays.equals(Arrays.copyOf(file, magic.length), magic)) {
            throw new IOException("not a Skipper engine file (bad magic)");
        }
        b.position(magic.length);
        int keyLength = b.getInt();
        if (keyLength < 0 || keyLength > MAX_KEY_BYTES || keyLength > b.remaining()) {
            throw new IOException("truncated or corrupt header (key length " + keyLength + ")");
        }
        byte[] k = new byte[keyLength];
        b.get(k);
        if (!new String(k, StandardCharsets.UTF_8).equals(key)) {
            throw new IOException("it was built for another key");
        }
        if (b.remaining() < 8 + 32) {
            throw new IOException("truncated header");
        }
        long planLength = b.getLong();
        byte[] digest = new byte[32];
        b.get(digest);
        if (planLength != b.remaining()) {
            throw new IOException("truncated: the header says " + planLength + " plan bytes, the file has " + b.remaining());
        }
        byte[] plan = new byte[(int) planLength];
        b.get(plan);
        if (!MessageDigest.isEqual(digest, sha256(plan))) {
            throw new IOException("checksum mismatch");
        }
        return plan;
    }

    private void writeAtomic(Path target, byte[] bytes) throws SkipperException {
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, target.getFileName().toString(), ".tmp");
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new SkipperException("engine cache: cannot write " + target + ": " + SkipperException.oneLine(e.toString())
                    + " (set SKIPPER_ENGINE_CACHE to a writable directory)", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the temp file is ours and harmless
                }
            }
        }
    }

    static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e); // every JDK has SHA-256
        }
    }

    static String sha256Hex(byte[] bytes) {
        return HexFormat.of().formatHex(sha256(bytes));
    }
}
