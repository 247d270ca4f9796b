package dev.skipper.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractHiddenStates;
import dev.skipper.runtime.BufferCopy;
import dev.skipper.runtime.DirectBuffers;
import dev.skipper.runtime.Half;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One sequence's working buffers for the ONNX Runtime backend: the hidden states, the int64 inputs
 * of the graphs and the logits staging area, all direct native-order memory that ONNX Runtime reads
 * and writes in place.
 *
 * <p>The hidden state lives in two buffers used in turn: a layer reads the current one and its
 * {@code hidden_out} is pinned to the other, then they swap. (Pinning an output to the memory of
 * an input of the same run is unsafe: the graph may write before it has read everything.)
 *
 * <p>Tensors over rows {@code [0, count)} are created on first use and kept per {@code count}, so a
 * decode step with a repeated shape creates none of them again. Not thread-safe: one sequence, one
 * thread at a time. {@link #close()} frees those tensors; the buffers' direct memory is returned
 * when the garbage collector reclaims them.
 */
public final class OrtHiddenStates extends AbstractHiddenStates {
    private final OrtEnvironment env;
    private final int maxTokens;
    private final int hiddenSize;
    private final int vocab;
    private final boolean fp16;
    private final int rowBytes; // bytes of one hidden row: hidden*sizeof(dtype)

    private final ByteBuffer[] hidden;   // [2][maxTokens][hidden] float32 or float16, ping-pong; the second is
                                         // allocated when a layer first writes it (a feature store never does)
    private final LongBuffer inputIds;   // [maxTokens] embed input
    private final LongBuffer positionIds; // [maxTokens] layer input: P .. P+count-1
    private final IntBuffer lengths;     // [2] head_major_shared layer inputs: {seqlens_k = P+count-1, total = P+count}
    private final FloatRows logits;      // [rows <= maxTokens][vocab] head output (float32 in every bundle), grown to
                                         // the most rows one run has written: decoding one token at a time holds
                                         // one row, not a prefill chunk's (12.6 MB for SmolLM2 at 64 rows); a
                                         // feature store of [context] rows never runs the head and holds none
    private final FloatRows draftLogits; // [rows <= maxTokens][draftVocab] draft head / feature drafter output, likewise
    private final FloatBuffer accept;    // [maxTokens] exit routers' accept_prob output
    private final int draftVocab;        // draft head logits width, 0 without draft heads
    private int current;                 // index into hidden[] of the buffer holding the latest rows

    private final OnnxTensor[][] hiddenTensors; // [2][maxTokens+1] [1, count, hidden] over rows [0, count) of hidden[i]
    private final OnnxTensor[] idsTensors;      // [maxTokens+1] [1, count] over inputIds[0, count)
    private final OnnxTensor[] positionTensors; // [maxTokens+1] [1, count] over positionIds[0, count)
    private final OnnxTensor[] acceptTensors;   // [maxTokens+1] [1, count] over accept[0, count)
    private OnnxTensor seqlensTensor;            // int32 [1] over lengths[0], created on first use
    private OnnxTensor totalTensor;              // int32 scalar over lengths[1], created on first use

    // Reused input and pinned-output maps, one pair per graph kind: each run puts the same keys again,
    // which replaces values in place (a cleared HashMap would allocate a node per put).
    final Map<String, OnnxTensorLike> embedInputs = new HashMap<>(4);
    final Map<String, OnnxValue> embedOutputs = new HashMap<>(4);
    final Map<String, OnnxTensorLike> layerInputs = new HashMap<>(16);
    final Map<String, OnnxValue> layerOutputs = new HashMap<>(8);
    final Map<String, OnnxTensorLike> headInputs = new HashMap<>(4);
    final Map<String, OnnxValue> headOutputs = new HashMap<>(4);
    final Map<String, OnnxTensorLike> fillInputs = new HashMap<>(16);
    final Map<String, OnnxValue> fillOutputs = new HashMap<>(4);
    final Map<String, OnnxTensorLike> exitInputs = new HashMap<>(4);
    final Map<String, OnnxValue> exitOutputs = new HashMap<>(4);
    final Map<String, OnnxTensorLike> draftInputs = new HashMap<>(4);
    final Map<String, OnnxValue> draftOutputs = new HashMap<>(4);
    final Map<String, OnnxTensorLike> featureInputs = new HashMap<>(16);
    final Map<String, OnnxValue> featureOutputs = new HashMap<>(8);

    /**
     * Allocates every buffer.
     *
     * @param env environment for the tensors
     * @param owner the runner that made it
     * @param maxTokens rows, at least 1
     * @param hiddenSize hidden width
     * @param vocab vocabulary size (logits width)
     * @param draftVocab draft vocabulary size (0 without draft heads), at most vocab
     * @param fp16 float16 hidden states (else float32)
     * @throws SkipperException if the memory cannot be allocated
     */
    OrtHiddenStates(OrtEnvironment env, OrtModelRunner owner, int maxTokens, int hiddenSize, int vocab, int draftVocab,
                    boolean fp16) throws SkipperException {
        super(owner, maxTokens, hiddenSize);
        this.env = env;
        this.maxTokens = maxTokens;
        this.hiddenSize = hiddenSize;
        this.vocab = vocab;
        this.draftVocab = draftVocab;
        this.fp16 = fp16;
        this.rowBytes = hiddenSize * (fp16 ? 2 : 4);
        String what = "hidden states of " + maxTokens + " rows";
        long hiddenBytes = (long) maxTokens * rowBytes;
        this.hidden = new ByteBuffer[] {DirectBuffers.allocate(hiddenBytes, what), null};
        this.inputIds = DirectBuffers.allocate((long) maxTokens * Long.BYTES, what).asLongBuffer();
        this.positionIds = DirectBuffers.allocate((long) maxTokens * Long.BYTES, what).asLongBuffer();
        this.lengths = DirectBuffers.allocate(2L * Integer.BYTES, what).asIntBuffer();
        this.hiddenTensors = new OnnxTensor[2][maxTokens + 1];
        this.idsTensors = new OnnxTensor[maxTokens + 1];
        this.positionTensors = new OnnxTensor[maxTokens + 1];
        this.logits = new FloatRows(vocab, "logits");
        this.accept = DirectBuffers.allocate((long) maxTokens * Float.BYTES, what).asFloatBuffer();
        this.draftLogits = new FloatRows(Math.max(1, draftVocab), "draft logits");
        this.acceptTensors = new OnnxTensor[maxTokens + 1];
    }

    @Override
    protected void readCurrent(int row, int count, float[] out) {
        ByteBuffer buffer = hidden[current];
        int base = row * rowBytes;
        for (int i = 0; i < out.length; i++) {
            out[i] = fp16 ? Half.toFloat(buffer.getShort(base + i * 2)) : buffer.getFloat(base + i * 4);
        }
    }

    @Override
    protected void releaseBuffers() {
        for (OnnxTensor[] perBuffer : hiddenTensors) {
            closeAll(perBuffer);
        }
        closeAll(idsTensors);
        closeAll(positionTensors);
        logits.release();
        draftLogits.release();
        closeAll(acceptTensors);
        Tensors.closeQuietly(seqlensTensor);
        Tensors.closeQuietly(totalTensor);
        seqlensTensor = null;
        totalTensor = null;
        for (Map<String, ?> map : List.of(embedInputs, embedOutputs, layerInputs, layerOutputs, headInputs, headOutputs,
                fillInputs, fillOutputs, exitInputs, exitOutputs, draftInputs, draftOutputs)) {
            map.clear();
        }
    }

    // ---- used by OrtModelRunner -------------------------------------------------------------

    /**
     * Rows {@code [0, count)} of the current hidden buffer, {@code [1, count, hidden]}.
     *
     * @param count rows
     * @return a cached tensor (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor currentHidden(int count) throws OrtException {
        return hiddenTensor(current, count);
    }

    /** @return the current hidden buffer itself ({@code [maxTokens][hidden]}, native order), for direct writes */
    ByteBuffer currentHiddenBytes() {
        return hidden[current];
    }

    /**
     * Rows {@code [0, count)} of the other hidden buffer, the pinned output of a layer.
     *
     * @param count rows
     * @return a cached tensor (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     * @throws SkipperException if the buffer cannot be allocated (first use)
     */
    OnnxTensor otherHidden(int count) throws OrtException, SkipperException {
        if (hidden[1 - current] == null) {
            hidden[1 - current] = DirectBuffers.allocate((long) maxTokens * rowBytes, "hidden states of " + maxTokens
                    + " rows");
        }
        return hiddenTensor(1 - current, count);
    }

    /** Makes the other hidden buffer current (after a layer wrote it). */
    void swap() {
        current = 1 - current;
    }

    /**
     * Rows {@code [row, row+count)} of the current hidden buffer, not cached.
     *
     * @param row first row
     * @param count rows
     * @return a new tensor; the caller closes it
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor currentHiddenAt(int row, int count) throws OrtException {
        return Tensors.activations(env, hidden[current], row * rowBytes, count * rowBytes, fp16, 1, count, hiddenSize);
    }

    /**
     * Writes token ids into the embed input.
     *
     * @param tokens ids
     * @param offset first index in {@code tokens}
     * @param count ids
     * @return the cached {@code [1, count]} tensor over them (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor inputIds(int[] tokens, int offset, int count) throws OrtException {
        for (int i = 0; i < count; i++) {
            inputIds.put(i, tokens[offset + i]);
        }
        OnnxTensor t = idsTensors[count];
        if (t == null) {
            t = Tensors.longs(env, inputIds, 0, count, 1, count);
            idsTensors[count] = t;
        }
        return t;
    }

    /**
     * Writes {@code start .. start+count-1} into the position input.
     *
     * @param start first position
     * @param count positions
     * @return the cached {@code [1, count]} tensor over them (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor positions(int start, int count) throws OrtException {
        for (int i = 0; i < count; i++) {
            positionIds.put(i, start + i);
        }
        OnnxTensor t = positionTensors[count];
        if (t == null) {
            t = Tensors.longs(env, positionIds, 0, count, 1, count);
            positionTensors[count] = t;
        }
        return t;
    }

    /**
     * Writes GroupQueryAttention's length inputs for a run of {@code count} tokens after {@code past}
     * cached ones; read them back with {@link #seqlensK()} and {@link #totalSequenceLength()}.
     *
     * @param past tokens already in the layer's cache
     * @param count new tokens
     * @throws OrtException if ONNX Runtime rejects the tensors (first use only)
     */
    void lengths(int past, int count) throws OrtException {
        lengths.put(0, past + count - 1); // index of the last valid row, not a count
        lengths.put(1, past + count);
        if (seqlensTensor == null) {
            seqlensTensor = OnnxTensor.createTensor(env, lengths.slice(0, 1), new long[] {1});
            totalTensor = OnnxTensor.createTensor(env, lengths.slice(1, 1), new long[0]);
        }
    }

    /** @return the int32 {@code [1]} seqlens_k tensor written by {@link #lengths} (do not close) */
    OnnxTensor seqlensK() {
        return seqlensTensor;
    }

    /** @return the int32 scalar total_sequence_length tensor written by {@link #lengths} (do not close) */
    OnnxTensor totalSequenceLength() {
        return totalTensor;
    }

    /**
     * The head's pinned output over rows {@code [0, count)} of the logits buffer.
     *
     * @param count rows
     * @return the cached {@code [1, count, vocab]} tensor (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     * @throws SkipperException if the buffer cannot be allocated (first use)
     */
    OnnxTensor logits(int count) throws OrtException, SkipperException {
        return logits.tensor(count);
    }

    /**
     * The draft head's pinned output over rows {@code [0, count)} of the logits buffer.
     *
     * @param count rows
     * @return the cached {@code [1, count, draftVocab]} tensor (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     * @throws SkipperException if the buffer cannot be allocated (first use)
     */
    OnnxTensor draftLogits(int count) throws OrtException, SkipperException {
        return draftLogits.tensor(count);
    }

    /**
     * Copies the first {@code count} rows of draft logits out.
     *
     * @param dst destination, length &gt;= count * draftVocab
     * @param count rows
     */
    void copyDraftLogits(float[] dst, int count) {
        BufferCopy.get(draftLogits.floats, 0, dst, 0, count * draftVocab);
    }

    /**
     * The exit routers' pinned output over {@code [0, count)}.
     *
     * @param count rows
     * @return the cached {@code [1, count]} tensor (do not close)
     * @throws OrtException if ONNX Runtime rejects it
     */
    OnnxTensor accept(int count) throws OrtException {
        OnnxTensor t = acceptTensors[count];
        if (t == null) {
            t = Tensors.floats(env, accept, 0, count, 1, count);
            acceptTensors[count] = t;
        }
        return t;
    }

    /**
     * Copies the first {@code count} router probabilities out.
     *
     * @param dst destination, length &gt;= count
     * @param count rows
     */
    void copyAccept(float[] dst, int count) {
        BufferCopy.get(accept, 0, dst, 0, count);
    }

    /**
     * Copies the first {@code count} rows of logits out.
     *
     * @param dst destination, length &gt;= count * vocab
     * @param count rows
     */
    void copyLogits(float[] dst, int count) {
        BufferCopy.get(logits.floats, 0, dst, 0, count * vocab);
    }

    /**
     * Copies rows of the current buffer into the current buffer of {@code dst}.
     *
     * @param row first source row
     * @param dst destination (same width and dtype: made by the same runner)
     * @param dstRow first destination row
     * @param count rows
     */
    void copyRowsTo(int row, OrtHiddenStates dst, int dstRow, int count) {
        ByteBuffer from = hidden[current];
        ByteBuffer to = dst.hidden[dst.current];
        BufferCopy.put(to, dstRow * rowBytes, from, row * rowBytes, count * rowBytes);
    }

    /** @return whether the hidden states are float16 */
    boolean isFp16() {
        return fp16;
    }

    private OnnxTensor hiddenTensor(int which, int count) throws OrtException {
        OnnxTensor t = hiddenTensors[which][count];
        if (t == null) {
            t = Tensors.activations(env, hidden[which], 0, count * rowBytes, fp16, 1, count, hiddenSize);
            hiddenTensors[which][count] = t;
        }
        return t;
    }

    /**
     * A float32 output buffer of {@code [rows][width]} that grows (doubling, at most {@link #maxTokens}
     * rows) when a run needs more rows than it holds, with its tensors over rows {@code [0, count)}
     * cached per count. Growing closes those tensors and frees the old memory at once.
     */
    private final class FloatRows {
        private final int width;
        private final String what;
        private final OnnxTensor[] tensors = new OnnxTensor[maxTokens + 1]; // [count] [1, count, width] over [0, count*width)
        private ByteBuffer bytes; // [rows][width] float32, null until the first run
        private FloatBuffer floats; // a float view of bytes
        private int rows;

        FloatRows(int width, String what) {
            this.width = width;
            this.what = what;
        }

        OnnxTensor tensor(int count) throws OrtException, SkipperException {
            if (count > rows) {
                int grown = (int) Math.min(maxTokens, Math.max(count, 2L * rows));
                ByteBuffer fresh = DirectBuffers.allocate((long) grown * width * Float.BYTES, what + " of " + grown
                        + " rows");
                release();
                bytes = fresh;
                floats = fresh.asFloatBuffer();
                rows = grown;
            }
            OnnxTensor t = tensors[count];
            if (t == null) {
                t = Tensors.floats(env, floats, 0, count * width, 1, count, width);
                tensors[count] = t;
            }
            return t;
        }

        /** Closes the tensors, then frees the memory they were over. */
        void release() {
            closeAll(tensors);
            DirectBuffers.free(bytes);
            bytes = null;
            floats = null;
            rows = 0;
        }
    }

    private static void closeAll(OnnxTensor[] tensors) {
        for (int i = 0; i < tensors.length; i++) {
            Tensors.closeQuietly(tensors[i]);
            tensors[i] = null;
        }
    }
}
