package dev.skipper.core.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.skipper.api.SkipperException;
import dev.skipper.bundle.BundleManifest.TokenizerSpec;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Hugging Face tokenizer ({@code tokenizer.json}, byte-level BPE) through DJL's binding of the
 * Rust {@code tokenizers} library ({@code ai.djl.huggingface:tokenizers}).
 *
 * <p>DJL's defaults are switched off: no special tokens are added by the tokenizer's post-processor
 * (Skipper adds BOS itself, per the manifest), no truncation (DJL truncates to 512 tokens by
 * default), no padding. Special tokens written in the text are matched by the tokenizer itself
 * (its {@code added_tokens}); {@link #decode} skips those marked {@code special}.
 */
public final class HfTokenizer implements Tokenizer {
    private static final Map<String, String> OPTIONS =
            Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");

    private final HuggingFaceTokenizer djl;
    private final int vocabSize;
    private final BitSet specialIds;
    private final Integer bosId;
    private final boolean addBos;
    private final int[] eosIds;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;
    /** [id] each token's bytes for a byte-level BPE tokenizer (null: special, dropped), else null. */
    private final byte[][] tokenBytes;

    private HfTokenizer(HuggingFaceTokenizer djl, Vocab vocab, TokenizerSpec spec) {
        this.djl = djl;
        this.vocabSize = vocab.size;
        this.specialIds = vocab.special;
        this.tokenBytes = vocab.byteLevelTokens();
        this.bosId = spec.bosId();
        this.addBos = spec.addBos() && spec.bosId() != null;
        this.eosIds = spec.eosIds().stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Opens a {@code tokenizer.json}.
     *
     * @param file the tokenizer file
     * @param spec the manifest's tokenizer section
     * @return the tokenizer
     * @throws SkipperException if the file cannot be read or parsed, or the native library cannot
     *     be loaded
     */
    static HfTokenizer open(Path file, TokenizerSpec spec) throws SkipperException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(spec, "spec");
        Vocab vocab = Vocab.read(file);
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = DjlNatives.offline(() -> HuggingFaceTokenizer.newInstance(file, OPTIONS));
        } catch (IOException e) {
            throw new SkipperException("cannot read tokenizer " + file + ": " + DjlNatives.describe(e), e);
        } catch (RuntimeException | LinkageError e) {
            throw new SkipperException("cannot load tokenizer " + file + " with DJL tokenizers: "
                    + DjlNatives.describe(e), e);
        }
        return new HfTokenizer(tokenizer, vocab, spec);
    }

    @Override
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        long[] ids;
        lock.readLock().lock();
        try {
            ensureOpen();
            ids = djl.encode(text, false, false).getIds();
        } finally {
            lock.readLock().unlock();
        }
        int offset = addBos ? 1 : 0;
        int[] out = new int[ids.length + offset];
        if (addBos) {
            out[0] = bosId;
        }
        for (int i = 0; i < ids.length; i++) {
            out[i + offset] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        return decodeRange(ids, 0, ids.length);
    }

    private String decodeRange(int[] ids, int from, int to) {
        long[] longs = new long[to - from];
        for (int i = from; i < to; i++) {
            if (ids[i] < 0) {
                throw new IllegalArgumentException("negative token id " + ids[i] + " at index " + i);
            }
            longs[i - from] = ids[i];
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            return djl.decode(longs, true);
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public OptionalInt bosId() {
        return bosId == null ? OptionalInt.empty() : OptionalInt.of(bosId);
    }

    @Override
    public int[] eosIds() {
        return eosIds.clone();
    }

    /**
     * {@inheritDoc} Byte-level BPE tokenizers (a {@code ByteLevel} decoder) stream their bytes
     * exactly ({@link ByteLevelDetokenizer}); others decode a window of recent tokens
     * ({@link IncrementalDetokenizer}).
     */
    @Override
    public byte[][] tokenBytes() {
        return tokenBytes == null ? null : tokenBytes.clone();
    }

    @Override
    public StreamingDetokenizer newStreamingDetokenizer() {
        ensureOpen();
        if (tokenBytes != null) {
            return new ByteLevelDetokenizer(tokenBytes, this::ensureOpen);
        }
        return new IncrementalDetokenizer(new DetokenizerSource() {
            @Override
            public void ensureOpen() {
                HfTokenizer.this.ensureOpen();
            }

            @Override
            public String decode(int[] ids, int from, int to) {
                return decodeRange(ids, from, to);
            }

            @Override
            public boolean isDropped(int id) {
                // decode(..., skip_special_tokens) drops special added tokens, and ids it does not
                // know, before its decoders run.
                return id >= vocabSize || specialIds.get(id);
            }

            @Override
            public boolean rendersText(int id) {
                // Every vocabulary entry and added token has non-empty text; the decoders of
                // tokenizer.json files only map it (ByteLevel) or strip one leading space of the
                // whole text (Metaspace, Strip), which the anchor's own text absorbs.
                return true;
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
        return "HfTokenizer[vocab=" + vocabSize + ", specials=" + specialIds.cardinality() + "]";
    }

    /**
     * What tokenizer.json says about ids: how many there are, which are special, and for a
     * byte-level BPE model (model.type BPE, decoder ByteLevel) every id's token string.
     */
    private record Vocab(int size, BitSet special, String[] pieces, boolean byteLevel) {

        /**
         * Each id's bytes as the ByteLevel decoder makes them: a token whose characters are all in
         * GPT-2's byte-to-character table stands for those bytes, any other token for its own UTF-8
         * (Hugging Face tokenizers' rule); special tokens are dropped (null), as decode drops them.
         *
         * @return [id] bytes, or null when this is not a byte-level BPE tokenizer
         */
        byte[][] byteLevelTokens() {
            if (!byteLevel) {
                return null;
            }
            int[] byteOf = ByteLevelTable.charToByte();
            byte[][] out = new byte[size][];
            for (int id = 0; id < size; id++) {
                String piece = pieces[id];
                if (piece == null || special.get(id)) {
                    continue;
                }
                byte[] b = new byte[piece.length()];
                boolean mapped = true;
                for (int i = 0; i < piece.length() && mapped; i++) {
                    char c = piece.charAt(i);
                    mapped = c < byteOf.length && byteOf[c] >= 0;
                    if (mapped) {
                        b[i] = (byte) byteOf[c];
                    }
                }
                out[id] = mapped ? b : piece.getBytes(StandardCharsets.UTF_8);
            }
            return out;
        }

        /** Reads {@code model.vocab}, {@code model.type}, {@code added_tokens} and {@code decoder.type}. */
        static Vocab read(Path file) throws SkipperException {
            int maxId = -1;
            boolean sawVocab = false;
            BitSet special = new BitSet();
            java.util.Map<Integer, String> pieces = new java.util.HashMap<>();
            String modelType = null;
            String decoderType = null;
            try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8);
                    JsonReader json = new JsonReader(in)) {
                json.beginObject();
                while (json.hasNext()) {
                    String name = json.nextName();
                    if (name.equals("added_tokens") && json.peek() == JsonToken.BEGIN_ARRAY) {
                        json.beginArray();
                        while (json.hasNext()) {
                            int id = -1;
                            boolean isSpecial = false;
                            String content = null;
                            json.beginObject();
                            while (json.hasNext()) {
                                String key = json.nextName();
                                if (key.equals("id")) {
                                    id = json.nextInt();
                                } else if (key.equals("special") && json.peek() == JsonToken.BOOLEAN) {
                                    isSpecial = json.nextBoolean();
                                } else if (key.equals("content") && json.peek() == JsonToken.STRING) {
                                    content = json.nextString();
                                } else {
                                    json.skipValue();
                                }
                            }
                            json.endObject();
                            if (id < 0) {
                                throw new SkipperException("tokenizer " + file + ": an added token has no id");
                            }
                            maxId = Math.max(maxId, id);
                            if (isSpecial) {
                                special.set(id);
                            }
                            if (content != null) {
                                pieces.put(id, content); // an added token decodes to its content
                            }
                        }
                        json.endArray();
                    } else if (name.equals("model") && json.peek() == JsonToken.BEGIN_OBJECT) {
                        json.beginObject();
                        while (json.hasNext()) {
                            String key = json.nextName();
                            if (key.equals("vocab") && json.peek() == JsonToken.BEGIN_OBJECT) {
                                sawVocab = true;
                                json.beginObject();
                                while (json.hasNext()) {
                                    String piece = json.nextName();
                                    int id = json.nextInt();
                                    maxId = Math.max(maxId, id);
                                    pieces.putIfAbsent(id, piece);
                                }
                                json.endObject();
                            } else if (key.equals("type") && json.peek() == JsonToken.STRING) {
                                modelType = json.nextString();
                            } else if (key.equals("vocab") && json.peek() == JsonToken.BEGIN_ARRAY) {
                                // Unigram: [[piece, score], ...], ids by position.
                                sawVocab = true;
                                int n = 0;
                                json.beginArray();
                                while (json.hasNext()) {
                                    json.skipValue();
                                    n++;
                                }
                                json.endArray();
                                maxId = Math.max(maxId, n - 1);
                            } else {
                                json.skipValue();
                            }
                        }
                        json.endObject();
                    } else if (name.equals("decoder") && json.peek() == JsonToken.BEGIN_OBJECT) {
                        json.beginObject();
                        while (json.hasNext()) {
                            if (json.nextName().equals("type") && json.peek() == JsonToken.STRING) {
                                decoderType = json.nextString();
                            } else {
                                json.skipValue();
                            }
                        }
                        json.endObject();
                    } else {
                        json.skipValue();
                    }
                }
                json.endObject();
            } catch (IOException | RuntimeException e) {
                throw new SkipperException("tokenizer " + file + " is not a valid tokenizer.json: "
                        + DjlNatives.describe(e), e);
            }
            if (!sawVocab) {
                throw new SkipperException("tokenizer " + file + " has no model.vocab: not a Hugging Face tokenizer.json");
            }
            boolean byteLevel = "BPE".equals(modelType) && "ByteLevel".equals(decoderType);
            String[] byId = new String[maxId + 1];
            if (byteLevel) {
                pieces.forEach((id, piece) -> byId[id] = piece);
            }
            return new Vocab(maxId + 1, special, byId, byteLevel);
        }
    }
}
