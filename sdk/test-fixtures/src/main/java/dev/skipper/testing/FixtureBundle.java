package dev.skipper.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A small real bundle shipped with the fixtures (2 layers of SmolLM2-135M's shape, float32,
 * {@code sequence_major}; 40 KB): for tests that need a valid manifest and graph files but no test
 * data. Copied out of the class path file by file, so it works from a jar too.
 */
public final class FixtureBundle {
    /** The bundle's files, relative to its directory. */
    public static final List<String> FILES = List.of("manifest.yaml", "embed.onnx", "head.onnx", "tokenizer.json",
            "layers/layer_0.onnx", "layers/layer_1.onnx");

    private FixtureBundle() {
    }

    /**
     * Writes a fresh copy of the bundle.
     *
     * @param dir the directory to create (must not exist)
     * @return {@code dir}
     */
    public static Path copyTo(Path dir) {
        try {
            for (String file : FILES) {
                Path target = dir.resolve(file);
                Files.createDirectories(target.getParent());
                try (InputStream in = FixtureBundle.class.getResourceAsStream("tiny-bundle/" + file)) {
                    if (in == null) {
                        throw new IllegalStateException("fixture file tiny-bundle/" + file + " is not on the class path");
                    }
                    Files.copy(in, target);
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
