package dev.skipper.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The rules for files a bundle names: paths stay inside the bundle, and content is identified by
 * SHA-256. Used by the manifest reader and by anything that caches work derived from bundle files
 * (a backend's engine cache keys on the same hashes).
 */
public final class BundleFiles {
    private static final int HASH_BUFFER_BYTES = 64 << 10; // per file hashed: a larger one only grows the heap (65 files per bundle)
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern WINDOWS_DRIVE = Pattern.compile("^[A-Za-z]:.*");

    private BundleFiles() {
    }

    /** A listed file that breaks a rule; the message is one line without the file's key. */
    public static final class Problem extends Exception {
        private static final long serialVersionUID = 1L;

        /** @param message what is wrong */
        public Problem(String message) {
            super(message);
        }
    }

    /**
     * Why {@code rel} is not a relative path inside a bundle, or null when it is: not empty, not
     * absolute, '/' between folders, no backslash or NUL, no '..', '.' or empty segment.
     *
     * @param rel the path as the manifest writes it
     * @return the reason, or null
     */
    public static String relativePathProblem(String rel) {
        if (rel.isEmpty()) {
            return "empty";
        }
        if (rel.startsWith("/") || WINDOWS_DRIVE.matcher(rel).matches()) {
            return "absolute";
        }
        if (rel.indexOf('\\') >= 0 || rel.indexOf('\0') >= 0) {
            return "use '/' between folders, no backslash or NUL";
        }
        for (String segment : rel.split("/", -1)) {
            if (segment.equals("..")) {
                return "'..' leads out of the bundle";
            }
            if (segment.isEmpty() || segment.equals(".")) {
                return "empty or '.' segment";
            }
        }
        return Path.of(rel).isAbsolute() ? "absolute" : null;
    }

    /**
     * Resolves a checked relative path to the real file inside the bundle.
     *
     * @param root the bundle's real path ({@code toRealPath()})
     * @param rel a path that passed {@link #relativePathProblem}
     * @return the file's real path
     * @throws Problem when it does not exist, leads out of the bundle (a symbolic link) or is not a
     *     regular file
     * @throws IOException when it cannot be resolved
     */
    public static Path confined(Path root, String rel) throws Problem, IOException {
        Path real;
        try {
            real = root.resolve(rel).toRealPath();
        } catch (NoSuchFileException e) {
            throw new Problem("is listed but " + root.resolve(rel) + " does not exist");
        }
        if (!real.startsWith(root)) {
            throw new Problem("resolves to " + real + ", outside the bundle " + root + " (symbolic link?)");
        }
        if (!Files.isRegularFile(real)) {
            throw new Problem("is not a regular file");
        }
        return real;
    }

    /**
     * @param text a hash as written
     * @return whether it is 64 lowercase hex digits
     */
    public static boolean isSha256(String text) {
        return SHA256_HEX.matcher(text).matches();
    }

    /**
     * The SHA-256 of a file, streamed (about a second per 500 MB).
     *
     * @param file the file
     * @return 64 lowercase hex digits
     * @throws IOException when it cannot be read
     */
    public static String sha256(Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buffer = new byte[HASH_BUFFER_BYTES];
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
