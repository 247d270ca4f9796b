package dev.skipper.core;

import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationResult;
import dev.skipper.testing.Goldens.Prompt;
import dev.skipper.testing.Goldens;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Sessions against the float64 reference's greedy continuations, prompt by prompt. */
class GreedyGoldensTest {
    static final List<String> ALL_CASES = EngineTestData.ALL_CASES;
    static final List<String> CONCURRENT_CASES = List.of("tiny-bpe-fp32", "tiny-spm-int4", "smollm2-int4");

    @ParameterizedTest
    @FieldSource("ALL_CASES")
    void greedyGenerationEqualsTheReferenceForEveryPrompt(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        Goldens g = EngineTestData.goldens(name);
        for (int p = 0; p < g.prompts().size(); p++) {
            Prompt prompt = g.prompts().get(p);
            try (DefaultSession session = engine.newSession()) {
                GenerationResult r = session.generate(prompt.text(), EngineTestData.greedyNoEos(prompt.greedy().length),
                        null);
                assertArrayEquals(prompt.greedy(), r.tokenIds(), name + " prompt " + p);
                assertEquals(FinishReason.MAX_TOKENS, r.finishReason());
                assertEquals(prompt.ids().length, r.stats().promptTokens(), name + " prompt " + p + ": prompt tokens");
                assertEquals(prompt.greedy().length, r.stats().generatedTokens());
                assertEquals(engine.tokenizer().decode(prompt.greedy()), r.text(), name + " prompt " + p + ": text");
                // The last token is known but not run yet: it is fed by the next request.
                assertEquals(prompt.ids().length + prompt.greedy().length - 1, session.length());
            }
        }
    }

    @ParameterizedTest
    @FieldSource("CONCURRENT_CASES")
    void sessionsGeneratingConcurrentlyOnOneEngineGiveTheirGoldens(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        Goldens g = EngineTestData.goldens(name);
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<List<int[]>>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int first = t;
                futures.add(pool.submit(() -> {
                    start.await();
                    List<int[]> out = new ArrayList<>();
                    try (DefaultSession session = engine.newSession()) {
                        // Each thread walks the prompts from a different one, resetting between them.
                        for (int i = 0; i < g.prompts().size(); i++) {
                            Prompt prompt = g.prompts().get((first + i) % g.prompts().size());
                            session.reset();
                            out.add(session.generate(prompt.text(),
                                    EngineTestData.greedyNoEos(prompt.greedy().length), null).tokenIds());
                        }
                    }
                    return out;
                }));
            }
            start.countDown();
            for (int t = 0; t < threads; t++) {
                List<int[]> got = futures.get(t).get(10, TimeUnit.MINUTES);
                for (int i = 0; i < got.size(); i++) {
                    int p = (t + i) % g.prompts().size();
                    assertArrayEquals(g.prompts().get(p).greedy(), got.get(i), name + " thread " + t + " prompt " + p);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
