package dev.skipper.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Temporary folders for fixtures that live as long as the test JVM (static fields of fuzz tests, a
 * stand-in backend's engine cache), removed with everything in them when the JVM exits: a test run
 * leaves nothing in the temp folder ({@code File.deleteOnExit} cannot remove a non-empty folder).
 */
public final class TempDirs {
    private TempDirs() {
    }

    /**
     * Creates a folder under {@code java.io.tmpdir} that is deleted, contents included, at exit.
     *
     * @param prefix the folder name's prefix
     * @return the new folder
     * @throws UncheckedIOException if it cannot be created
     */
    public static Path forThisJvm(String prefix) {
        Path dir;
        try {
            dir = Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temp folder " + prefix, e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir), "delete " + dir));
        return dir;
    }

    /**
     * Deletes a folder and everything under it, quietly (what cannot be deleted stays).
     *
     * @param dir the folder
     */
    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // best effort at exit
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // best effort at exit
        }
    }
}
