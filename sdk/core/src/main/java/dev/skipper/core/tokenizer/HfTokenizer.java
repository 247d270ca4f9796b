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

    /** System property: use the native library even where the Java encoder would do (comparisons). */
    public static final String NATIVE_PROPERTY = "skipper.tokenizer.native";

    private final HuggingFaceTokenizer djl; // null when the Java encoder runs this file
    private final ByteLevelBpe java;        // null when the native library does
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
        this.java = vocab.javaEncoder();
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
        if (vocab.javaEncoder() != null) {
            return new HfTokenizer(null, vocab, spec);
        }
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
            if (java != null) {
                int[] j = java.encode(text);
                ids = null;
                if (!addBos) {
                    return j;
                }
                int[] out = new int[j.length + 1];
                out[0] = bosId;
                System.arraycopy(j, 0, out, 1, j.length);
                return out;
            }
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
            if (djl == null) { // byte-level: the tokens' bytes, special and unknown ids dropped, decoded as Rust does
                java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
                for (long id : longs) {
                    byte[] b = id < tokenBytes.length ? tokenBytes[(int) id] : null;
                    if (b != null) {
                        bytes.write(b, 0, b.length);
                    }
                }
                byte[] all = bytes.toByteArray();
                return Utf8Lossy.decode(all, 0, all.length);
            }
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
                if (djl != null) {
                    djl.close();
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "HfTokenizer[vocab=" + vocabSize + ", specials=" + specialIds.cardinality() + ", "
                + (java != null ? "java" : "native") + "]";
    }

    /**
     * What tokenizer.json says about ids: how many there are, which are special, and for a
     * byte-level BPE model (model.type BPE, decoder ByteLevel) every id's token string.
     */
    private record Vocab(int size, BitSet special, String[] pieces, boolean byteLevel, ByteLevelBpe javaEncoder) {

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
            Map<String, Integer> modelVocab = new java.util.HashMap<>();
            java.util.List<String[]> merges = new java.util.ArrayList<>();
            Map<String, Integer> added = new java.util.HashMap<>();
            boolean plainAdded = true;    // every added token matched as written (no strip, word or normalizer flags)
            boolean plainModel = true;    // BPE without dropout, unk, affixes, byte fallback or ignored merges
            boolean noNormalizer = false;
            com.google.gson.JsonElement preTokenizer = null;
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
                                } else if ((key.equals("lstrip") || key.equals("rstrip") || key.equals("single_word"))
                                        && json.peek() == JsonToken.BOOLEAN) {
                                    plainAdded &= !json.nextBoolean();
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
                                added.put(content, id);
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
                                    modelVocab.put(piece, id);
                                }
                                json.endObject();
                            } else if (key.equals("type") && json.peek() == JsonToken.STRING) {
                                modelType = json.nextString();
                            } else if (key.equals("merges") && json.peek() == JsonToken.BEGIN_ARRAY) {
                                json.beginArray();
                                while (json.hasNext()) {
                                    if (json.peek() == JsonToken.STRING) { // "a b"
                                        String m = json.nextString();
                                        int sp = m.indexOf(' ');
                                        if (sp <= 0 || sp != m.lastIndexOf(' ')) {
                                            plainModel = false;
                                        } else {
                                            merges.add(new String[] {m.substring(0, sp), m.substring(sp + 1)});
                                        }
                                    } else if (json.peek() == JsonToken.BEGIN_ARRAY) { // ["a", "b"]
                                        json.beginArray();
                                        String a = json.nextString();
                                        String b = json.nextString();
                                        json.endArray();
                                        merges.add(new String[] {a, b});
                                    } else {
                                        json.skipValue();
                                        plainModel = false;
                                    }
                                }
                                json.endArray();
                            } else if (key.equals("dropout") || key.equals("unk_token")
                                    || key.equals("continuing_subword_prefix") || key.equals("end_of_word_suffix")) {
                                if (json.peek() == JsonToken.NULL) {
                                    json.nextNull();
                                } else {
                                    json.skipValue();
                                    plainModel = false;
                                }
                            } else if ((key.equals("byte_fallback") || key.equals("ignore_merges"))
                                    && json.peek() == JsonToken.BOOLEAN) {
                                plainModel &= !json.nextBoolean();
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
                    } else if (name.equals("normalizer")) {
                        if (json.peek() == JsonToken.NULL) {
                            json.nextNull();
                            noNormalizer = true;
                        } else {
                            json.skipValue();
                        }
                    } else if (name.equals("pre_tokenizer")) {
                        preTokenizer = com.google.gson.JsonParser.parseReader(json);
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
            ByteLevelBpe java = null;
            Boolean digits = byteLevel && plainModel && plainAdded && noNormalizer ? javaPreTokenizer(preTokenizer) : null;
            if (digits != null && System.getProperty(NATIVE_PROPERTY) == null) {
                try {
                    java = new ByteLevelBpe(modelVocab, merges, added, digits);
                } catch (IllegalArgumentException e) {
                    java = null; // an inconsistent file: the native library says what is wrong with it
                }
            }
            return new Vocab(maxId + 1, special, byId, byteLevel, java);
        }

        /**
         * @return whether Digits(individual) precedes ByteLevel, for the pre-tokenizers
         *     {@link ByteLevelBpe} reproduces (ByteLevel without a prefix space, with its regex, alone
         *     or after Digits with individual digits); null for any other
         */
        private static Boolean javaPreTokenizer(com.google.gson.JsonElement pre) {
            try {
                return javaPreTokenizerOrThrow(pre);
            } catch (RuntimeException e) { // a field of an unexpected JSON type: not a file the Java encoder knows
                return null;
            }
        }

        private static Boolean javaPreTokenizerOrThrow(com.google.gson.JsonElement pre) {
            if (pre == null || !pre.isJsonObject()) {
                return null;
            }
            com.google.gson.JsonObject o = pre.getAsJsonObject();
            String type = o.has("type") ? o.get("type").getAsString() : "";
            if (type.equals("ByteLevel")) {
                return plainByteLevel(o) ? Boolean.FALSE : null;
            }
            if (type.equals("Sequence") && o.has("pretokenizers") && o.get("pretokenizers").isJsonArray()) {
                com.google.gson.JsonArray a = o.getAsJsonArray("pretokenizers");
                if (a.size() == 1 && a.get(0).isJsonObject() && plainByteLevel(a.get(0).getAsJsonObject())) {
                    return Boolean.FALSE;
                }
                if (a.size() == 2 && a.get(0).isJsonObject() && a.get(1).isJsonObject()) {
                    com.google.gson.JsonObject d = a.get(0).getAsJsonObject();
                    boolean digits = d.has("type") && d.get("type").getAsString().equals("Digits")
                            && d.has("individual_digits") && d.get("individual_digits").getAsBoolean();
                    return digits && plainByteLevel(a.get(1).getAsJsonObject()) ? Boolean.TRUE : null;
                }
            }
            return null;
        }

        private static boolean plainByteLevel(com.google.gson.JsonObject o) {
            return o.has("type") && o.get("type").getAsString().equals("ByteLevel")
                    && !(o.has("add_prefix_space") && o.get("add_prefix_space").getAsBoolean())
                    && (!o.has("use_regex") || o.get("use_regex").getAsBoolean());
        }
    }
}
