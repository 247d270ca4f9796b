package dev.skipper.runtime;

import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest;
import dev.skipper.bundle.BundleManifest.EmbedTableSpec;
import dev.skipper.bundle.BundleManifest.TableValues;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The embedding lookup without the embedding graph: a bundle's described table
 * ({@link EmbedTableSpec}, {@code graphs.embed.table}) read row by row with positional reads.
 * Why: a mapped table's pages count as the process's resident memory once touched (ONNX Runtime
 * maps {@code embed.bin}: ~27 MB of SmolLM2-135M's 31 MB stayed resident after a few requests),
 * a read's pages stay in the page cache, shared and reclaimable. The arithmetic is the graph's,
 * in float32: {@code float(value) * scale + offset} (one rounding each), so rows are bit for bit
 * what {@code embed.onnx} gives (tested over every token).
 *
 * <p>Thread-safe (one row buffer, reads under the table's lock: a row is ~1 KB); allocates nothing
 * per token. Reads go through {@link RandomAccessFile}, not a {@code FileChannel}: an interrupted
 * caller would close a channel for every session of the engine. Closing closes the file.
 */
public final class EmbeddingTable implements AutoCloseable {
    private final Path path;
    private final RandomAccessFile file;
    private final EmbedTableSpec spec;
    private final int blocks;             // scales per row, 0 for float values
    private final ByteBuffer valueRow;    // [columns] values of one row, little-endian
    private final ByteBuffer scaleRow;    // [blocks] float32 scales of one row, or null
    private final ByteBuffer offsetRow;   // [blocks] float32 offsets of one row, or null

    private EmbeddingTable(Path path, RandomAccessFile file, EmbedTableSpec spec) {
        this.path = path;
        this.file = file;
        this.spec = spec;
        this.blocks = spec.blocks();
        this.valueRow = ByteBuffer.allocate((int) spec.valueRowBytes()).order(ByteOrder.LITTLE_ENDIAN);
        this.scaleRow = blocks == 0 ? null : ByteBuffer.allocate(4 * blocks).order(ByteOrder.LITTLE_ENDIAN);
        this.offsetRow = spec.offsetsOffset() < 0 ? null : ByteBuffer.allocate(4 * blocks).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Opens a bundle's described table, checking that every region lies inside the file.
     *
     * @param manifest the bundle (its files' hashes verified)
     * @return the table, or null when the bundle describes none
     * @throws SkipperException when the file cannot be read or is too short for the table
     */
    public static EmbeddingTable open(BundleManifest manifest) throws SkipperException {
        EmbedTableSpec spec = manifest.graphs().embedTable();
        if (spec == null) {
            return null;
        }
        Path path = manifest.resolve(spec.file());
        RandomAccessFile file = null;
        try {
            file = new RandomAccessFile(path.toFile(), "r");
            long size = file.length();
            long rowBytes = spec.valueRowBytes();
            check(path, "values", spec.valuesOffset(), Math.multiplyExact(rowBytes, spec.rows()), size);
            if (spec.blocks() > 0) {
                long scales = Math.multiplyExact(4L * spec.blocks(), spec.rows());
                check(path, "scales", spec.scalesOffset(), scales, size);
                if (spec.offsetsOffset() >= 0) {
                    check(path, "offsets", spec.offsetsOffset(), scales, size);
                }
            }
            return new EmbeddingTable(path, file, spec);
        } catch (IOException e) {
            closeQuietly(file);
            throw new SkipperException("cannot read the embedding table " + path + ": " + e.getMessage(), e);
        } catch (SkipperException | RuntimeException e) {
            closeQuietly(file);
            throw e;
        }
    }

    private static void check(Path path, String what, long offset, long bytes, long size) throws SkipperException {
        if (offset > size || bytes > size - offset) {
            throw new SkipperException(path + ": the embedding table's " + what + " (" + bytes + " bytes at offset "
                    + offset + ") run past the file's " + size + " bytes");
        }
    }

    /** @return the table's description */
    public EmbedTableSpec spec() {
        return spec;
    }

    /**
     * Writes the float32 rows of {@code count} tokens, one after the other.
     *
     * @param tokens token ids
     * @param offset first index in {@code tokens}
     * @param count rows
     * @param out destination (absolute puts in its own byte order)
     * @param outByte byte offset of the first row in {@code out}
     * @throws SkipperException when the file cannot be read
     * @throws IndexOutOfBoundsException for a token outside the table or rows past {@code out}
     */
    public synchronized void rows(int[] tokens, int offset, int count, ByteBuffer out, int outByte)
            throws SkipperException {
        int columns = spec.columns();
        if (outByte < 0 || (long) outByte + 4L * columns * count > out.capacity()) {
            throw new IndexOutOfBoundsException(count + " embedding rows at byte " + outByte + " do not fit "
                    + out.capacity() + " bytes");
        }
        for (int i = 0; i < count; i++) {
            int token = tokens[offset + i];
            if (token < 0 || token >= spec.rows()) {
                throw new IndexOutOfBoundsException("token id " + token + " outside the embedding table of "
                        + spec.rows() + " rows");
            }
            read(valueRow, spec.valuesOffset() + token * spec.valueRowBytes());
            int base = outByte + 4 * columns * i;
            if (blocks == 0) {
                for (int c = 0; c < columns; c++) {
                    out.putFloat(base + 4 * c, value(c));
                }
                continue;
            }
            read(scaleRow, spec.scalesOffset() + 4L * blocks * token);
            if (offsetRow != null) {
                read(offsetRow, spec.offsetsOffset() + 4L * blocks * token);
            }
            int block = spec.blockSize();
            for (int b = 0; b < blocks; b++) {
                float scale = scaleRow.getFloat(4 * b);
                float shift = offsetRow == null ? 0 : offsetRow.getFloat(4 * b);
                for (int c = b * block; c < (b + 1) * block; c++) {
                    float v = value(c) * scale; // the graph's Mul, then (with offsets) its Add
                    out.putFloat(base + 4 * c, offsetRow == null ? v : v + shift);
                }
            }
        }
    }

    private float value(int c) {
        TableValues t = spec.values();
        return switch (t) {
            case INT8 -> valueRow.get(c);
            case UINT8 -> valueRow.get(c) & 0xff;
            case BIASED_INT8 -> (valueRow.get(c) & 0xff) - 128; // exact: the graph's Cast, then Sub 128
            case FLOAT16 -> Half.toFloat(valueRow.getShort(2 * c));
            case FLOAT32 -> valueRow.getFloat(4 * c);
        };
    }

    /** Fills {@code buffer}'s backing array from {@code position} (callers hold the table's lock). */
    private void read(ByteBuffer buffer, long position) throws SkipperException {
        try {
            file.seek(position);
            file.readFully(buffer.array(), 0, buffer.capacity());
        } catch (IOException e) {
            throw new SkipperException("cannot read the embedding table " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        closeQuietly(file);
    }

    private static void closeQuietly(RandomAccessFile f) {
        if (f != null) {
            try {
                f.close();
            } catch (IOException e) {
                // read-only file: nothing to report at close
            }
        }
    }
}
