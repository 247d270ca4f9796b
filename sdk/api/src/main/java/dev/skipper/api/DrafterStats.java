package dev.skipper.api;

import java.util.Objects;

/**
 * What one drafter did during a request (speculative decoding tries several per round: prompt
 * lookup, corpus lookup, the trained drafter, layer drafts).
 *
 * @param name the drafter, such as {@code ngram}, {@code corpus} or {@code feature}
 * @param rounds verified rounds it drafted
 * @param drafted tokens it proposed in them
 * @param accepted of those, tokens the full model confirmed
 */
public record DrafterStats(String name, long rounds, long drafted, long accepted) {
    // Checks the name.
    public DrafterStats {
        Objects.requireNonNull(name, "name");
    }

    /** @return accepted / drafted, or 0 when nothing was drafted */
    public double acceptanceRate() {
        return drafted == 0 ? 0 : (double) accepted / drafted;
    }
}
