package dev.skipper.tensorrt;

import dev.skipper.api.SkipperException;
import dev.skipper.runtime.AbstractKvCache;
import dev.skipper.runtime.KvGeometry;
import java.util.ArrayList;
import java.util.List;

/**
 * One sequence's KV cache in device memory, sequence-major: per layer a K and a V buffer of
 * {@code [bufferRows][kvHeads][headDim]}, so the valid prefix {@code [0, P)} is a dense view bound as
 * {@code past_key}/{@code past_value} and a layer's new rows are written in place by binding its
 * {@code key}/{@code value} outputs at byte offset {@code P * rowBytes}. Rollback sets the length;
 * nothing is copied.
 */
final class TrtKvCache extends AbstractKvCache {
    private final TrtNative nat;
    final TrtNative.DeviceMemory[] keys;   // [layers] device [bufferRows][kvHeads][headDim]
    final TrtNative.DeviceMemory[] values; // [layers] device, like keys
    /** The stream of the last call that wrote this cache: a call on another stream waits for it first. */
    TrtNative.Stream lastStream;

    TrtKvCache(TrtNative nat, Object owner, KvGeometry geometry) throws SkipperException {
        super(owner, geometry);
        this.nat = nat;
        int layers = geometry.numLayers();
        keys = new TrtNative.DeviceMemory[layers];
        values = new TrtNative.DeviceMemory[layers];
        List<TrtNative.DeviceMemory> made = new ArrayList<>();
        try {
            for (int l = 0; l < layers; l++) {
                keys[l] = nat.allocate(geometry.bufferBytes());
                made.add(keys[l]);
                values[l] = nat.allocate(geometry.bufferBytes());
                made.add(values[l]);
            }
        } catch (SkipperException | RuntimeException e) {
            for (int i = made.size() - 1; i >= 0; i--) {
                made.get(i).close();
            }
            throw e;
        }
    }

    /**
     * Makes this cache safe to use on {@code stream}: waits for the last writer's stream when it is
     * another (a drafter's buffers and the verifier's run on different streams over one cache).
     */
    void useOn(TrtNative.Stream stream) throws SkipperException {
        if (lastStream != null && lastStream != stream) {
            nat.synchronize(lastStream);
        }
        lastStream = stream;
    }

    /** Debug/test read of one element: a 4-byte device-to-host copy. */
    @Override
    protected float element(int layer, boolean value, long index) {
        KvGeometry g = geometry();
        try (TrtNative.HostMemory host = nat.allocateHost(4); TrtNative.Stream s = nat.createStream()) {
            if (lastStream != null) {
                nat.synchronize(lastStream);
            }
            nat.copyToHost(value ? values[layer] : keys[layer], index * g.elementBytes(), host, 0, g.elementBytes(), s);
            nat.synchronize(s);
            return g.elementBytes() == 4 ? host.buffer().getFloat(0)
                    : dev.skipper.runtime.Half.toFloat(host.buffer().getShort(0));
        } catch (SkipperException e) {
            throw new IllegalStateException("cannot read the KV cache: " + e.getMessage(), e);
        }
    }

    @Override
    protected void releaseBuffers() {
        for (int l = keys.length - 1; l >= 0; l--) {
            if (values[l] != null) {
                values[l].close();
            }
            if (keys[l] != null) {
                keys[l].close();
            }
        }
    }
}
