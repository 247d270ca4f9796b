package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractHiddenStates;
import dev.skipper.runtime.Half;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One sequence's working buffers on the device, with its own stream and execution contexts: the
 * hidden states ping-pong between two device buffers across layers (a layer reads {@code current}
 * and writes the other, then they swap); token ids and positions are staged in page-locked host
 * memory and copied up; only logits (and router probabilities) come back.
 *
 * <p>Execution contexts are created on first use, one per engine and profile, and live as long as
 * these buffers (TensorRT contexts are not thread-safe; one sequence runs on one thread). They are
 * user-managed: all of them share one scratch buffer for their activations (one stream runs one
 * engine at a time), so a session holds the largest context's scratch, not one per engine and profile.
 */
final class TrtHiddenStates extends AbstractHiddenStates {
    private final TrtNative nat;
    final int elementBytes;           // 4 float32 or 2 float16 activations
    final long rowBytes;              // hiddenSize * elementBytes
    final int logitRows;              // rows of logits one head enqueue writes
    final TrtNative.Stream stream;
    final TrtNative.DeviceMemory[] hidden = new TrtNative.DeviceMemory[2]; // [2] device [maxTokens][hidden]
    int current;                      // which of hidden[] holds the latest state
    final TrtNative.DeviceMemory ids;       // device [maxTokens] int64
    final TrtNative.DeviceMemory positions; // device [maxTokens] int64
    final TrtNative.HostMemory hostLongs;   // host [maxTokens] int64: positions staged for copy
    final LongBuffer hostLongView;
    final TrtNative.HostMemory hostIds;     // host [maxTokens] int64: token ids staged for copy (apart from the
    final LongBuffer hostIdView;            // positions: an asynchronous copy may still read one when the other is staged)
    final TrtNative.DeviceMemory logits;    // device [logitRows][vocab] float32
    final TrtNative.HostMemory hostLogits;  // host [logitRows][max(vocab, draftVocab)] float32
    final FloatBuffer hostLogitView;
    final TrtNative.DeviceMemory accept;    // device [maxTokens] float32, or null without exit heads
    final long[] shape2 = new long[2];      // [1, n]
    final long[] shape3 = new long[3];      // [1, n, hidden]
    final long[] shape4 = new long[4];      // [1, past, kvHeads, headDim]
    private final TrtNative.ExecutionContext[][] contexts; // [engine][profile], created on first use
    final TrtNative.DeviceMemory scratch;   // device [scratchBytes]: activations of every context of this stream
    private final List<AutoCloseable> owned = new ArrayList<>();

    TrtHiddenStates(TrtNative nat, Object owner, int maxTokens, int hiddenSize, int elementBytes, int vocab,
                    int draftVocab, int logitRows, int engines, long scratchBytes) throws SkipperException {
        super(owner, maxTokens, hiddenSize);
        this.nat = nat;
        this.elementBytes = elementBytes;
        this.rowBytes = (long) hiddenSize * elementBytes;
        this.logitRows = Math.min(maxTokens, logitRows);
        this.contexts = new TrtNative.ExecutionContext[engines][2];
        try {
            stream = keep(nat.createStream());
            hidden[0] = keep(nat.allocate(rowBytes * maxTokens));
            hidden[1] = keep(nat.allocate(rowBytes * maxTokens));
            ids = keep(nat.allocate(8L * maxTokens));
            positions = keep(nat.allocate(8L * maxTokens));
            hostLongs = keep(nat.allocateHost(8L * maxTokens));
            hostLongView = hostLongs.buffer().asLongBuffer();
            hostIds = keep(nat.allocateHost(8L * maxTokens));
            hostIdView = hostIds.buffer().asLongBuffer();
            int width = Math.max(vocab, draftVocab);
            logits = keep(nat.allocate(4L * this.logitRows * width));
            hostLogits = keep(nat.allocateHost(4L * Math.max(this.logitRows * (long) width, maxTokens)));
            hostLogitView = hostLogits.buffer().asFloatBuffer();
            accept = draftVocab > 0 ? keep(nat.allocate(4L * maxTokens)) : null;
            // One scratch for all contexts: enqueues on one stream never overlap, so engines x
            // profiles contexts need the largest one's activations, not the sum.
            scratch = keep(nat.allocate(scratchBytes));
        } catch (SkipperException | RuntimeException e) {
            releaseBuffers();
            throw e;
        }
    }

    private <T extends AutoCloseable> T keep(T t) {
        owned.add(t);
        return t;
    }

    /** @return the device buffer holding the latest hidden state */
    TrtNative.DeviceMemory currentHidden() {
        return hidden[current];
    }

    /** @return the other device buffer (a layer's output) */
    TrtNative.DeviceMemory otherHidden() {
        return hidden[1 - current];
    }

    void swap() {
        current = 1 - current;
    }

    /**
     * @param engine index in {@link EngineSet#all()}
     * @param profile profile index
     * @param bound the engine
     * @return the context of this sequence for it
     */
    TrtNative.ExecutionContext context(int engine, int profile, EngineSet.Bound bound) throws SkipperException {
        TrtNative.ExecutionContext c = contexts[engine][profile];
        if (c == null) {
            c = bound.engine().createContext(profile, stream, scratch);
            contexts[engine][profile] = c;
        }
        return c;
    }

    @Override
    protected void readCurrent(int row, int count, float[] out) {
        long bytes = rowBytes * count;
        try (TrtNative.HostMemory host = nat.allocateHost(bytes)) {
            nat.copyToHost(currentHidden(), rowBytes * row, host, 0, bytes, stream);
            nat.synchronize(stream);
            ByteBuffer b = host.buffer();
            for (int i = 0; i < out.length && i < count * hiddenSize(); i++) {
                out[i] = elementBytes == 4 ? b.getFloat(4 * i) : Half.toFloat(b.getShort(2 * i));
            }
        } catch (SkipperException e) {
            throw new IllegalStateException("cannot read hidden states: " + e.getMessage(), e);
        }
    }

    /** Closes the contexts, then every buffer and the stream, in reverse order of creation. */
    @Override
    protected void releaseBuffers() {
        for (TrtNative.ExecutionContext[] perEngine : contexts) {
            for (int p = perEngine.length - 1; p >= 0; p--) {
                if (perEngine[p] != null) {
                    perEngine[p].close();
                    perEngine[p] = null;
                }
            }
        }
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                // closing device memory reports nothing we could act on
            }
        }
        owned.clear();
    }
}
