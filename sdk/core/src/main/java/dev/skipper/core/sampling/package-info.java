/**
 * Next-token selection: greedy, repetition penalty, temperature, top-k, top-p, min-p and seeded
 * sampling ({@link dev.skipper.core.sampling.Sampler}), plus the processed distribution that
 * speculative decoding compares drafts against.
 */
package dev.skipper.core.sampling;
