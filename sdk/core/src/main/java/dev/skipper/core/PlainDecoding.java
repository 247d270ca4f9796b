package dev.skipper.core;

import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.Sampler;

/** One full-model step per token: embed the pending token, every layer, the head, sample. */
final class PlainDecoding implements DecodeStrategy {
    private final Sequence seq;
    private final Sampler sampler;

    /**
     * @param seq the session's sequence
     * @param sampler the session's sampler
     */
    PlainDecoding(Sequence seq, Sampler sampler) {
        this.seq = seq;
        this.sampler = sampler;
    }

    @Override
    public void begin() {
    }

    @Override
    public int step(SamplingOptions sampling, int budget, int[] out) throws SkipperException {
        seq.run(null);
        out[0] = seq.sampleNext(sampler, sampling);
        seq.append(out[0]);
        return 1;
    }
}
