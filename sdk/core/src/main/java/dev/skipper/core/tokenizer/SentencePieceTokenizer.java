package dev.skipper.core.tokenizer;

import ai.djl.sentencepiece.SpProcessor;
import ai.djl.sentencepiece.SpTokenizer;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A SentencePiece tokenizer ({@code tokenizer.model}): encodes with DJL's SentencePiece binding
 * ({@code ai.djl.sentencepiece}), decodes in Java ({@link SentencePieceModel}).
 *
 * <p>SentencePiece does not recognise the bundle's special tokens in text, so {@link #encode}
 * first splits the text on them (longest first, where several start at the same place), as the
 * exporter's Python tokenizer does: each special token becomes its id, each stretch of text
 * between them is encoded on its own. {@link #decode} leaves out the manifest's special tokens;
 * other control pieces produce no text either, while user-defined pieces (such as a ChatML
 * {@code <|im_start|>} that the model defines but the manifest does not list) produce their text.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    private final SpTokenizer djl;
    private final SpProcessor processor;
    private final SentencePieceModel model;
    private final Integer bosId;
    private final boolean addBos;
    private final int[] eosIds;
    private final Map<String, Integer> specialTokens;
    private final BitSet specialIds = new BitSet();
    private final Pattern specialPattern;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;

    private SentencePieceTokenizer(SpTokenizer tokenizer, SentencePieceModel model, TokenizerSpec spec) {
        this.djl = tokenizer;
        this.processor = tokenizer.getProcessor();
        this.model = model;
        this.bosId = spec.bosId();
        this.addBos = spec.addBos() && spec.bosId() != null;
        this.eosIds = spec.eosIds().stream().mapToInt(Integer::intValue).toArray();
        this.specialTokens = new HashMap<>(spec.specialTokens());
        spec.specialTokens().values().forEach(specialIds::set);
        List<String> names = new ArrayList<>(spec.specialTokens().keySet());
        // Stable: names of equal length keep manifest order, as Python's sorted(..., reverse=True).
        names.sort(Comparator.comparingInt(String::length).reversed());
        this.specialPattern = names.isEmpty() ? null
                : Pattern.compile(String.join("|", names.stream().map(Pattern::quote).toList()));
    }

    /**
     * Opens a {@code tokenizer.model}.
     *
     * @param file the model file
     * @param spec the manifest's tokenizer section
     * @return the tokenizer
     * @throws SkipperException if the file cannot be read or is not a usable SentencePiece model,
     *     or the native library cannot be loaded
     */
    static SentencePieceTokenizer open(Path file, TokenizerSpec spec) throws SkipperException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(spec, "spec");
        byte[] data;
        try {
            data = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SkipperException("cannot read SentencePiece model " + file + ": " + DjlNatives.describe(e), e);
        }
        SentencePieceModel model = SentencePieceModel.parse(data, file);
        SpTokenizer tokenizer;
        try {
            tokenizer = DjlNatives.offline(() -> new SpTokenizer(data));
        } catch (IOException | RuntimeException | LinkageError e) {
            throw new SkipperException("cannot load SentencePiece model " + file + " with DJL sentencepiece: "
                    + DjlNatives.describe(e), e);
        }
        return new SentencePieceTokenizer(tokenizer, model, spec);
    }

    @Override
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        lock.readLock().lock();
        try {
            ensureOpen();
            int[] out = new int[Math.max(16, text.length() + 1)];
            int n = 0;
            if (addBos) {
                out[n++] = bosId;
            }
            int start = 0;
            if (specialPattern != null) {
                Matcher m = specialPattern.matcher(text);
                while (m.find()) {
                    if (m.start() > start) {
                        int[] ids = processor.encode(text.substring(start, m.start()));
                        out = append(out, n, ids);
                        n += ids.length;
                    }
                    out = append(out, n, new int[] {specialTokens.get(m.group())});
                    n++;
                    start = m.end();
                }
            }
            if (start < text.length()) {
                int[] ids = processor.encode(text.substring(start));
                out = append(out, n, ids);
                n += ids.length;
            }
            return Arrays.copyOf(out, n);
        } finally {
            lock.readLock().unlock();
        }
    }

    private static int[] append(int[] out, int n, int[] ids) {
        int[] dst = n + ids.length <= out.length ? out : Arrays.copyOf(out, Math.max(out.length * 2, n + ids.length));
        System.arraycopy(ids, 0, dst, n, ids.length);
        return dst;
    }

    @Override
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        return decodeRange(ids, 0, ids.length);
    }

    private String decodeRange(int[] ids, int from, int to) {
        for (int i = from; i < to; i++) {
            if (ids[i] < 0) {
                throw new IllegalArgumentException("negative token id " + ids[i] + " at index " + i);
            }
        }
        ensureOpen();
        return model.decode(ids, from, to, this::isDropped);
    }

    private boolean isDropped(int id) {
        return id >= model.size() || specialIds.get(id);
    }

    @Override
    public int vocabSize() {
        return model.size();
    }

    @Override
    public byte[][] tokenBytes() {
        return model.pieceBytes(this::isDropped);
    }

    @Override
    public OptionalInt bosId() {
        return bosId == null ? OptionalInt.empty() : OptionalInt.of(bosId);
    }

    @Override
    public int[] eosIds() {
        return eosIds.clone();
    }

    @Override
    public StreamingDetokenizer newStreamingDetokenizer() {
        ensureOpen();
        return new IncrementalDetokenizer(new DetokenizerSource() {
            @Override
            public void ensureOpen() {
                SentencePieceTokenizer.this.ensureOpen();
            }

            @Override
            public String decode(int[] ids, int from, int to) {
                return decodeRange(ids, from, to);
            }

            @Override
            public boolean isDropped(int id) {
                return SentencePieceTokenizer.this.isDropped(id);
            }

            @Override
            public boolean rendersText(int id) {
                return model.rendersTextFirst(id);
            }
        });
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("the tokenizer is closed");
        }
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                djl.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "SentencePieceTokenizer[vocab=" + model.size() + ", specials=" + specialTokens.size() + "]";
    }
}
