package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The bundle's small binary tables that every backend loads the same way: the draft vocabulary and
 * the rotary cos/sin table. Sizes are checked against the manifest before anything is allocated
 * (the manifest reader checked them too; the files may have changed since).
 */
public final class BundleTables {
    private BundleTables() {
    }

    /**
     * The draft vocabulary file: exactly {@code draft_heads.vocab.size} little-endian int32 ids,
     * each in the vocabulary.
     *
     * @param manifest a manifest with draft heads
     * @return the token id of each draft head column
     * @throws SkipperException when the file cannot be read, has the wrong size or an id outside
     *     the vocabulary
     */
    public static int[] draftVocabulary(BundleManifest manifest) throws SkipperException {
        BundleManifest.DraftHeadsSpec spec = manifest.draftHeads();
        Path path = manifest.resolve(spec.vocabFile());
        byte[] bytes;
        try {
            long size = Files.size(path);
            if (size != 4L * spec.vocabSize()) {
                throw new SkipperException(path + ": " + size + " bytes, expected " + 4L * spec.vocabSize()
                        + " (draft_heads.vocab.size " + spec.vocabSize() + " int32 ids)");
            }
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new SkipperException("cannot read " + path + ": " + e.getMessage(), e);
        }
        IntBuffer ids = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        int[] vocab = new int[spec.vocabSize()];
        int modelVocab = manifest.model().vocabSize();
        for (int i = 0; i < vocab.length; i++) {
            vocab[i] = ids.get(i);
            if (vocab[i] < 0 || vocab[i] >= modelVocab) {
                throw new SkipperException(path + ": entry " + i + " is token id " + vocab[i]
                        + ", outside the vocabulary [0, " + modelVocab + ")");
            }
        }
        return vocab;
    }

    /**
     * The rotary table ({@code rope_cache}) in a direct native-order buffer: {@code [2][positions][width]}
     * of the manifest's dtype, cosines then sines.
     *
     * @param manifest a manifest with a rope cache
     * @return the table, position 0, limit = its size
     * @throws SkipperException when the file cannot be read or has the wrong size, or the platform
     *     is not little-endian
     */
    public static ByteBuffer ropeTable(BundleManifest manifest) throws SkipperException {
        BundleManifest.RopeCacheSpec spec = manifest.ropeCache();
        Path file = manifest.resolve(spec.file());
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new SkipperException("the rotary table is little-endian; this platform is not");
        }
        long bytes = spec.bytes();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (channel.size() != bytes) {
                throw new SkipperException(file + ": " + channel.size() + " bytes, expected " + bytes
                        + " (rope_cache.shape [2, " + spec.positions() + ", " + spec.width() + "])");
            }
            ByteBuffer table = DirectBuffers.allocate(bytes, "the rotary table " + file);
            while (table.hasRemaining()) {
                if (channel.read(table) < 0) {
                    throw new SkipperException(file + ": ends early");
                }
            }
            ((java.nio.Buffer) table).clear(); // Buffer.clear(): Android has no ByteBuffer.clear() override
            return table;
        } catch (IOException e) {
            throw new SkipperException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
