package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.skipper.api.DrafterStats;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.api.SpeculationStats;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.sampling.Sampler;
import dev.skipper.core.speculation.DraftContext;
import dev.skipper.core.speculation.DraftController;
import dev.skipper.core.speculation.Drafter;
import dev.skipper.core.speculation.Drafts;
import dev.skipper.core.speculation.PromptLookupDrafter;
import dev.skipper.core.speculation.SpeculationPolicy;
import dev.skipper.runtime.spi.ModelRunner;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code auto} passes over a prompt-lookup match when the self-limiting drafter after it has the
 * better measured rate; when that drafter then drafts nothing, the round verifies the match instead
 * of falling back to a plain step. The self-limiting drafter here is an oracle (plain decoding's own
 * next tokens, so its rate is high) that drafts nothing every third call.
 */
class PassedOverLookupTest {
    private static final int NEW_TOKENS = 200;
    private static final int[] PROMPT = {11, 5, 6, 7, 8, 9, 5, 6, 7, 8, 12, 13, 14, 5, 6, 7};

    /** Counts the lookup's matches within one step. */
    private static final class CountingLookup implements Drafter {
        final PromptLookupDrafter lookup = new PromptLookupDrafter(3, 2);
        int matched;

        @Override
        public String name() {
            return "ngram";
        }

        @Override
        public boolean runsModel() {
            return false;
        }

        @Override
        public void propose(DraftContext context, int max, Drafts out) {
            lookup.propose(context, max, out);
            matched = Math.max(matched, out.count());
        }
    }

    /** Drafts plain decoding's continuation, and nothing on every third call. */
    private static final class Oracle implements Drafter {
        final int[] answer; // plain decoding's tokens after the prompt
        final CountingLookup lookup;
        int calls;
        boolean emptyAfterMatch;

        Oracle(int[] answer, CountingLookup lookup) {
            this.answer = answer;
            this.lookup = lookup;
        }

        @Override
        public String name() {
            return "oracle";
        }

        @Override
        public boolean limitsItself() {
            return true;
        }

        @Override
        public void propose(DraftContext context, int max, Drafts out) {
            if (++calls % 3 == 0) {
                emptyAfterMatch = lookup.matched > 0;
                return;
            }
            out.proposeFixed();
            int next = context.length() - PROMPT.length; // index in answer of the token after the pending one
            for (int i = 0; i < max && next + i < answer.length; i++) {
                out.add(answer[next + i]);
            }
        }
    }

    @Test
    void aMatchPassedOverIsVerifiedWhenTheOtherDrafterDraftsNothing() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        ModelRunner runner = engine.runner();
        Sampler sampler = new Sampler(runner.manifest().model().vocabSize());
        SpeculationConfig config = new SpeculationConfig(SpeculationMode.AUTO, null, 4, 0.0, null, 3, true);
        try (Sequence seq = new Sequence(runner, 240, 16)) {
            int[] want = EngineTestData.plainGreedy(seq, sampler, PROMPT, NEW_TOKENS + 8);
            int[] got = new int[NEW_TOKENS + 8];
            int n = 0;
            got[n++] = EngineTestData.prefillGreedy(seq, sampler, PROMPT);
            CountingLookup lookup = new CountingLookup();
            Oracle oracle = new Oracle(want, lookup);
            SpeculationPolicy.Drafters set = new SpeculationPolicy.Drafters(List.of(lookup, oracle),
                    new DraftController.Prior[] {new DraftController.Prior(0.6, false),
                        new DraftController.Prior(0.9, true)}, null, null, null);
            int[] step = new int[8];
            int checked = 0;
            SpeculationStats stats;
            // Each clock read advances 1 ms: a plain step costs 1, a round 1 to draft and 1 to verify,
            // so the oracle's rounds (up to 5 tokens) beat the lookup's, and both beat plain steps.
            long[] now = {0};
            try (SpeculativeDecoder spec = new SpeculativeDecoder(seq, sampler, config, false, set,
                    () -> now[0] += 1_000_000)) {
                spec.begin();
                while (n < NEW_TOKENS) {
                    lookup.matched = 0;
                    oracle.emptyAfterMatch = false;
                    long plainBefore = spec.speculationStats(n).plainSteps();
                    int k = spec.step(SamplingOptions.GREEDY, NEW_TOKENS - n, step);
                    System.arraycopy(step, 0, got, n, k);
                    n += k;
                    if (oracle.emptyAfterMatch) {
                        checked++;
                        assertEquals(plainBefore, spec.speculationStats(n).plainSteps(), "token " + n
                                + ": the oracle drafted nothing after a lookup match was passed over, and the "
                                + "round took a plain step instead of verifying the match");
                    }
                }
                stats = spec.speculationStats(n);
            }
            assertArrayEquals(Arrays.copyOf(want, NEW_TOKENS), Arrays.copyOf(got, NEW_TOKENS), stats.toString());
            assertTrue(checked > 0, "no round passed over a lookup match and then drafted nothing: the test "
                    + "checked nothing " + stats);
            // The per-drafter breakdown names both drafters, each drafted, and sums to the totals.
            assertEquals(List.of("ngram", "oracle"), stats.byDrafter().stream().map(DrafterStats::name).toList());
            assertTrue(stats.byDrafter().stream().allMatch(d -> d.rounds() > 0 && d.accepted() <= d.drafted()), stats.toString());
            assertEquals(stats.rounds(), stats.byDrafter().stream().mapToLong(DrafterStats::rounds).sum());
            assertEquals(stats.drafted(), stats.byDrafter().stream().mapToLong(DrafterStats::drafted).sum());
            assertEquals(stats.accepted(), stats.byDrafter().stream().mapToLong(DrafterStats::accepted).sum());
            System.out.printf("passed-over matches verified: %d; %s%n", checked, stats);
        }
    }
}
