package dev.skipper.core;

import dev.skipper.api.AdaptiveDepthStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SkipperException;
import dev.skipper.core.sampling.Sampler;

/** LOSSY, opt-in: each step may exit at a checkpoint layer ({@link AdaptiveDepthStep}), then samples. */
final class AdaptiveDepthDecoding implements DecodeStrategy {
    private final Sequence seq;
    private final Sampler sampler;
    private final AdaptiveDepthStep depth;

    /**
     * @param seq the session's sequence
     * @param sampler the session's sampler
     * @param depth the step with its routers (owned: closed with this)
     */
    AdaptiveDepthDecoding(Sequence seq, Sampler sampler, AdaptiveDepthStep depth) {
        this.seq = seq;
        this.sampler = sampler;
        this.depth = depth;
    }

    @Override
    public Sequence.LayerInputs promptObserver() {
        return depth.promptObserver();
    }

    @Override
    public void begin() {
        depth.begin();
    }

    @Override
    public int step(SamplingOptions sampling, int budget, int[] out) throws SkipperException {
        depth.step();
        out[0] = seq.sampleNext(sampler, sampling);
        seq.append(out[0]);
        return 1;
    }

    @Override
    public AdaptiveDepthStats adaptiveDepthStats() {
        return depth.stats();
    }

    @Override
    public void close() {
        depth.close();
    }
}
