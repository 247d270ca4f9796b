package dev.skipper.api;

/**
 * Teacher-forced scores of a text under LOSSY adaptive depth, next to the full model's: the first
 * {@code prefix} tokens are prefilled with every layer (as a prompt is), every later token runs
 * one adaptive-depth decode step.
 *
 * @param prefix tokens prefilled at full depth (positions {@code prefix-1 .. n-2} are scored)
 * @param agreement share of scored positions where the lossy argmax equals the full model's
 * @param perplexity exp(-mean log p(next token)) of the lossy run over the scored positions
 * @param fullPerplexity the full model's perplexity over the same positions
 * @param stats what adaptive depth did
 */
public record AdaptiveDepthScore(int prefix, double agreement, double perplexity, double fullPerplexity,
                                 AdaptiveDepthStats stats) {
}
