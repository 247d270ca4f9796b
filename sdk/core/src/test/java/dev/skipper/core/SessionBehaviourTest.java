package dev.skipper.core;

import dev.skipper.api.ContextOverflowException;
import dev.skipper.api.EmptyPromptException;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.TokenListener;
import dev.skipper.runtime.spi.BackendOptions;
import dev.skipper.testing.Goldens.Prompt;
import dev.skipper.testing.Goldens;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Context limits, cancellation, stop strings, seeds, streaming and end-of-sequence of a session. */
class SessionBehaviourTest {
    static final List<String> STREAM_CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "smollm2-int4");

    private static int[] slice(int[] a, int from, int to) {
        return Arrays.copyOfRange(a, from, to);
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    // ---- (3) context overflow ------------------------------------------------------------------

    @Test
    void aPromptThatDoesNotFitFailsWithBothNumbersAndLeavesTheSessionUnchanged() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        Prompt p = EngineTestData.goldens("tiny-bpe-fp32").prompts().get(0);
        try (DefaultSession session = engine.newSession()) {
            GenerationResult first = session.generate(p.text(), EngineTestData.greedyNoEos(12), null);
            int length = session.length();
            String longText = "hello world ".repeat(400);
            int added = engine.encode(longText, true).length;
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> session.generate(longText, EngineTestData.greedyNoEos(4), null));
            int needed = p.ids().length + 12 + added; // cached + the last sampled token + the new text
            assertEquals(needed, e.tokens());
            assertEquals(EngineTestData.CONTEXT, e.contextLength());
            assertTrue(e.getMessage().contains(Integer.toString(needed)), e.getMessage());
            assertTrue(e.getMessage().contains(Integer.toString(EngineTestData.CONTEXT)), e.getMessage());
            assertEquals(length, session.length(), "session unchanged");
            // The conversation goes on as if the failed call had not happened.
            GenerationResult rest = session.generate("", EngineTestData.greedyNoEos(12), null);
            assertArrayEquals(p.greedy(), concat(first.tokenIds(), rest.tokenIds()));
        }
    }

    @Test
    void aPromptLongerThanTheContextOnAnEmptySessionIsRefused() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        try (DefaultSession session = engine.newSession()) {
            String text = "one two three ".repeat(300);
            int tokens = engine.encode(text, false).length;
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> session.generate(text, GenerationOptions.greedy(1), null));
            assertEquals(tokens, e.tokens());
            assertEquals(0, session.length());
        }
    }

    @Test
    void anEmptyPromptOnAnEmptySessionIsATypedErrorAndWhitespaceIsText() throws Exception {
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                List.of("cpu"), 0); DefaultSession session = engine.newSession()) {
            assertThrows(EmptyPromptException.class, () -> session.generate("", GenerationOptions.greedy(1), null));
            assertEquals(0, session.length(), "nothing was added");
            GenerationResult r = session.generate(" ", EngineTestData.greedyNoEos(2), null);
            assertEquals(2, r.tokenIds().length, "a space is a token to continue from");
            int held = session.length();
            GenerationResult more = session.generate("", EngineTestData.greedyNoEos(1), null);
            assertEquals(1, more.tokenIds().length, "on a non-empty session an empty prompt continues it");
            assertEquals(held + 1, session.length());
        }
    }

    @Test
    void generationEndsWithContextFullWhenTheCacheIsFull() throws Exception {
        Goldens g = EngineTestData.goldens("tiny-bpe-fp32");
        Prompt p = g.prompts().get(0);
        int context = p.ids().length + 6;
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle("tiny-bpe-fp32"), BackendOptions.DEFAULTS,
                List.of("cpu"), context); DefaultSession session = engine.newSession()) {
            GenerationResult r = session.generate(p.text(), EngineTestData.greedyNoEos(100), null);
            assertEquals(FinishReason.CONTEXT_FULL, r.finishReason());
            assertArrayEquals(slice(p.greedy(), 0, 7), r.tokenIds(), "6 tokens fed, the 7th sampled and kept");
            assertEquals(context, session.length());
            assertThrows(ContextOverflowException.class, () -> session.generate("", GenerationOptions.greedy(1), null));
        }
    }

    // ---- (4) cancellation ----------------------------------------------------------------------

    @Test
    void cancelFromAnotherThreadStopsAtTheNextStepAndTheSessionStaysUsable() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        Prompt p = EngineTestData.goldens("tiny-bpe-fp32").prompts().get(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (DefaultSession session = engine.newSession()) {
            CountDownLatch reached = new CountDownLatch(1);
            CountDownLatch cancelIssued = new CountDownLatch(1);
            AtomicInteger streamed = new AtomicInteger();
            TokenListener listener = (text, id) -> {
                if (streamed.incrementAndGet() == 5) {
                    reached.countDown();
                    try {
                        assertTrue(cancelIssued.await(1, TimeUnit.MINUTES));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            Future<GenerationResult> running = pool.submit(
                    () -> session.generate(p.text(), EngineTestData.greedyNoEos(400), listener));
            assertTrue(reached.await(1, TimeUnit.MINUTES));
            session.cancel(); // from this thread, while the generating thread sits in token 5's callback
            cancelIssued.countDown();
            GenerationResult r = running.get(1, TimeUnit.MINUTES);
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertArrayEquals(slice(p.greedy(), 0, 5), r.tokenIds(), "no token after the cancel");
            // Usable afterwards: the conversation continues exactly.
            GenerationResult rest = session.generate("", EngineTestData.greedyNoEos(19), null);
            assertEquals(FinishReason.MAX_TOKENS, rest.finishReason());
            assertArrayEquals(p.greedy(), concat(r.tokenIds(), rest.tokenIds()));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void cancelWhileTheModelRunsEndsWithinOneStep() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-int4");
        Prompt p = EngineTestData.goldens("smollm2-int4").prompts().get(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (DefaultSession session = engine.newSession()) {
            AtomicInteger streamed = new AtomicInteger();
            CountDownLatch started = new CountDownLatch(3);
            Future<GenerationResult> running = pool.submit(() -> session.generate(p.text(),
                    EngineTestData.greedyNoEos(400), (text, id) -> {
                        streamed.incrementAndGet();
                        started.countDown();
                    }));
            assertTrue(started.await(5, TimeUnit.MINUTES));
            session.cancel();
            int atCancel = streamed.get();
            GenerationResult r = running.get(5, TimeUnit.MINUTES);
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.tokenIds().length <= atCancel + 1,
                    r.tokenIds().length + " tokens after a cancel seen at token " + atCancel);
            assertArrayEquals(slice(p.greedy(), 0, r.tokenIds().length), r.tokenIds());
            // A new request is not affected by the earlier cancel.
            session.reset();
            GenerationResult again = session.generate(p.text(), EngineTestData.greedyNoEos(4), null);
            assertEquals(FinishReason.MAX_TOKENS, again.finishReason());
            assertArrayEquals(slice(p.greedy(), 0, 4), again.tokenIds());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aSecondThreadCannotUseABusySession() throws Exception {
        DefaultEngine engine = EngineTestData.engine("tiny-bpe-fp32");
        Prompt p = EngineTestData.goldens("tiny-bpe-fp32").prompts().get(0);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (DefaultSession session = engine.newSession()) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Future<GenerationResult> running = pool.submit(() -> session.generate(p.text(),
                    EngineTestData.greedyNoEos(2), (text, id) -> {
                        inside.countDown();
                        try {
                            release.await(1, TimeUnit.MINUTES);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }));
            assertTrue(inside.await(1, TimeUnit.MINUTES));
            assertThrows(IllegalStateException.class, () -> session.generate("x", GenerationOptions.greedy(1), null));
            release.countDown();
            assertEquals(2, running.get(1, TimeUnit.MINUTES).tokenIds().length);
        } finally {
            pool.shutdownNow();
        }
    }

    // ---- (5) stop strings ----------------------------------------------------------------------

    @Test
    void aStopStringAcrossTokensEndsGenerationAndIsNeverEmitted() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-int4");
        Prompt p = EngineTestData.goldens("smollm2-int4").prompts().get(1);
        int[] greedy = p.greedy();
        // Token boundaries in the reference text: find a token with >= 3 characters followed by one
        // with >= 3, and take a stop string from the middle of the first to the middle of the second.
        String stop = null;
        int stopToken = -1;
        for (int i = 10; i + 1 < greedy.length && stop == null; i++) {
            String before = engine.tokenizer().decode(slice(greedy, 0, i));
            String a = engine.tokenizer().decode(slice(greedy, 0, i + 1));
            String b = engine.tokenizer().decode(slice(greedy, 0, i + 2));
            if (a.length() - before.length() >= 3 && b.length() - a.length() >= 3) {
                String candidate = b.substring(a.length() - 2, a.length() + 2);
                if (b.indexOf(candidate) == a.length() - 2 && candidate.strip().length() == 4) {
                    stop = candidate;
                    stopToken = i + 1;
                }
            }
        }
        assertTrue(stop != null, "no suitable token pair in " + engine.tokenizer().decode(greedy));
        String full = engine.tokenizer().decode(greedy);
        String expected = full.substring(0, full.indexOf(stop));

        try (DefaultSession session = engine.newSession()) {
            StringBuilder streamed = new StringBuilder();
            GenerationOptions options = new GenerationOptions(64, SamplingOptions.GREEDY,
                    List.of("never-in-this-text-\u2603", stop), false);
            GenerationResult r = session.generate(p.text(), options, (text, id) -> streamed.append(text));
            assertEquals(FinishReason.STOP_STRING, r.finishReason());
            assertEquals(expected, r.text());
            assertEquals(expected, streamed.toString());
            assertFalse(streamed.toString().contains(stop));
            assertArrayEquals(slice(greedy, 0, stopToken + 1), r.tokenIds(), "ends with the token completing the stop");
        }
    }

    // ---- (6) seeds -----------------------------------------------------------------------------

    @Test
    void theSameSeedGivesTheSameSampleAndOtherSeedsDiffer() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-int4");
        Prompt p = EngineTestData.goldens("smollm2-int4").prompts().get(4);
        List<int[]> outputs = new ArrayList<>();
        for (long seed : new long[] {7, 7, 8, 9}) {
            try (DefaultSession session = engine.newSession()) {
                GenerationOptions options = new GenerationOptions(24,
                        new SamplingOptions(false, 1.0, 0, 1.0, 0.0, 1.0, seed), List.of(), false);
                outputs.add(session.generate(p.text(), options, null).tokenIds());
            }
        }
        assertArrayEquals(outputs.get(0), outputs.get(1), "same seed, same tokens");
        assertFalse(Arrays.equals(outputs.get(0), outputs.get(2)), "seed 8 differs from seed 7");
        assertFalse(Arrays.equals(outputs.get(0), outputs.get(3)), "seed 9 differs from seed 7");
        assertFalse(Arrays.equals(outputs.get(0), p.greedy()), "sampling is not greedy");

        // Filters and the penalty go through the same path, also reproducibly, on a reused session.
        try (DefaultSession session = engine.newSession()) {
            GenerationOptions options = new GenerationOptions(16,
                    new SamplingOptions(false, 0.8, 40, 0.9, 0.05, 1.1, 42), List.of(), false);
            int[] a = session.generate(p.text(), options, null).tokenIds();
            session.reset();
            int[] b = session.generate(p.text(), options, null).tokenIds();
            assertArrayEquals(a, b);
        }
    }

    // ---- (9) streaming and EOS -----------------------------------------------------------------

    @ParameterizedTest
    @FieldSource("STREAM_CASES")
    void streamedTextConcatenatedEqualsTheResultText(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        for (Prompt p : EngineTestData.goldens(name).prompts()) {
            try (DefaultSession session = engine.newSession()) {
                StringBuilder streamed = new StringBuilder();
                AtomicInteger calls = new AtomicInteger();
                GenerationResult r = session.generate(p.text(), EngineTestData.greedyNoEos(p.greedy().length),
                        (text, id) -> {
                            streamed.append(text);
                            calls.incrementAndGet();
                        });
                assertEquals(r.text(), streamed.toString(), name);
                assertTrue(calls.get() >= r.tokenIds().length, "one call per token at least");
            }
        }
    }

    @Test
    void generationStopsAtTheEndOfSequenceTokenAndTheNextTurnContinuesAfterIt() throws Exception {
        DefaultEngine engine = EngineTestData.engine("smollm2-fp32");
        Prompt p = EngineTestData.goldens("smollm2-fp32").prompts().get(0);
        int eosAt = -1;
        for (int i = 0; i < p.greedy().length && eosAt < 0; i++) {
            if (p.greedy()[i] == 2) {
                eosAt = i;
            }
        }
        assertTrue(eosAt > 0, "the reference reply ends with <|im_end|>");
        try (DefaultSession session = engine.newSession()) {
            GenerationResult r = session.generate(p.text(), GenerationOptions.greedy(64), null);
            assertEquals(FinishReason.EOS, r.finishReason());
            assertArrayEquals(slice(p.greedy(), 0, eosAt + 1), r.tokenIds());
            assertEquals(engine.tokenizer().decode(slice(p.greedy(), 0, eosAt)), r.text());
            assertTrue(r.stats().ttftMillis() > 0 && r.stats().prefillTokensPerSecond() > 0
                    && r.stats().decodeTokensPerSecond() > 0, r.stats().toString());
            // The EOS token is part of the sequence: continuing reproduces the reference after it.
            GenerationResult next = session.generate("", EngineTestData.greedyNoEos(8), null);
            assertArrayEquals(slice(p.greedy(), eosAt + 1, eosAt + 9), next.tokenIds());
            assertEquals(1, next.stats().promptTokens(), "only the pending EOS token ran");
        }
    }
}
