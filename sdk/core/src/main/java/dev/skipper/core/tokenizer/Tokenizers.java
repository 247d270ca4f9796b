package dev.skipper.core.tokenizer;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import dev.skipper.bundle.BundleManifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Opens a bundle's tokenizer.
 *
 * <p>Nothing is downloaded: both DJL bindings load the native library shipped in their jar, and
 * DJL's offline mode is switched on before they load (see the package documentation).
 */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * Opens the tokenizer a manifest describes, from the manifest's own bundle directory.
     *
     * @param manifest the bundle's manifest
     * @return the tokenizer; the caller closes it
     * @throws SkipperException if the tokenizer file is missing or unusable, or the native
     *     library cannot be loaded
     */
    public static Tokenizer open(BundleManifest manifest) throws SkipperException {
        Objects.requireNonNull(manifest, "manifest");
        return open(manifest.directory(), manifest);
    }

    /**
     * Opens the tokenizer a manifest describes: {@code tokenizer.file} under {@code bundleDir},
     * a Hugging Face {@code tokenizer.json} ({@code kind: bpe}) or a SentencePiece model
     * ({@code kind: spm}).
     *
     * @param bundleDir the bundle directory
     * @param manifest the bundle's manifest
     * @return the tokenizer; the caller closes it
     * @throws SkipperException if the tokenizer file is missing or unusable, or the native
     *     library cannot be loaded; the message is one line that names the file
     */
    public static Tokenizer open(Path bundleDir, BundleManifest manifest) throws SkipperException {
        Objects.requireNonNull(bundleDir, "bundleDir");
        Objects.requireNonNull(manifest, "manifest");
        TokenizerSpec spec = manifest.tokenizer();
        Path file = bundleDir.resolve(spec.file());
        if (!Files.isRegularFile(file)) {
            throw new SkipperException("tokenizer file " + file
                    + (Files.exists(file) ? " is not a regular file" : " does not exist"));
        }
        return switch (spec.kind()) {
            case BPE -> HfTokenizer.open(file, spec);
            case SPM -> SentencePieceTokenizer.open(file, spec);
        };
    }
}
