package dev.skipper.android;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.os.Looper;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.SkipperException;
import dev.skipper.core.config.DeploymentConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.After;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;

/** The background worker: streaming to the main thread, one reply at a time, cancel, errors, close. */
@RunWith(RobolectricTestRunner.class)
public class GenerationControllerTest {
    private static final DeploymentConfig CONFIG = DeploymentConfig.defaults(Path.of("/data/bundles/none"));
    private GenerationController controller;

    /** Records what the UI would hear, and on which thread. */
    static final class Recorder implements GenerationController.Listener {
        final List<String> pieces = Collections.synchronizedList(new ArrayList<>());
        volatile GenerationResult done;
        volatile String error;
        volatile boolean offMainThread;

        private void check() {
            if (Looper.myLooper() != Looper.getMainLooper()) {
                offMainThread = true;
            }
        }

        @Override
        public void onText(String piece) {
            check();
            pieces.add(piece);
        }

        @Override
        public void onDone(GenerationResult result) {
            check();
            done = result;
        }

        @Override
        public void onError(String message) {
            check();
            error = message;
        }
    }

    /** Runs the main looper until {@code until} holds (the worker posts to it), at most 10 s. */
    static void await(BooleanSupplier until) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!until.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out");
            }
            shadowOf(Looper.getMainLooper()).idle();
            Thread.sleep(5);
        }
        shadowOf(Looper.getMainLooper()).idle();
    }

    /** An opener that says it has started, then waits for {@code release} before it hands out {@code engine}. */
    static GenerationController.EngineOpener openingUntil(java.util.concurrent.CountDownLatch started,
                                                          java.util.concurrent.CountDownLatch release, FakeEngine engine) {
        return c -> {
            started.countDown();
            try {
                release.await();
            } catch (InterruptedException ex) {
                throw new SkipperException("interrupted");
            }
            return engine;
        };
    }

    @After
    public void close() {
        if (controller != null) {
            controller.close();
        }
    }

    @Test
    public void streamsOnTheMainThreadInOrderAndKeepsOneEngine() throws Exception {
        FakeEngine engine = new FakeEngine(List.of("Go", " to", "", " the", " dock"), 0);
        List<DeploymentConfig> opened = new ArrayList<>();
        controller = new GenerationController(CONFIG, c -> {
            opened.add(c);
            return engine;
        });
        Recorder ui = new Recorder();
        controller.setListener(ui);
        assertTrue(controller.send("where to?"));
        await(() -> ui.done != null);
        assertEquals(List.of("Go", " to", " the", " dock"), ui.pieces); // the empty piece is not posted
        assertEquals("Go to the dock", ui.done.text());
        assertFalse("listener calls come on the main thread", ui.offMainThread);
        assertFalse(controller.isRunning());
        assertEquals("skipper-generation", engine.last.generatingThreads.get(0));

        ui.done = null;
        assertTrue(controller.send("and then?"));
        await(() -> ui.done != null);
        assertEquals("the engine opens once, on first use", 1, opened.size());
        assertEquals(1, engine.sessionsOpened.get());
        assertEquals(List.of("where to?", "and then?"), engine.last.userTurns);
        assertSame(CONFIG, opened.get(0));
    }

    private static void assertSame(Object a, Object b) {
        assertTrue(a == b);
    }

    @Test
    public void cancelStopsTheReplyAtTheNextTokenAndTheNextReplyRuns() throws Exception {
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            many.add("t" + i + " ");
        }
        FakeEngine engine = new FakeEngine(many, 5);
        controller = new GenerationController(CONFIG, c -> engine);
        Recorder ui = new Recorder();
        controller.setListener(ui);
        assertTrue(controller.send("talk a lot"));
        assertFalse("one reply at a time", controller.send("second"));
        await(() -> ui.pieces.size() >= 3);
        controller.cancel();
        await(() -> ui.done != null);
        assertEquals(FinishReason.CANCELLED, ui.done.finishReason());
        assertTrue(GenerationController.cancelled(ui.done));
        assertTrue("stopped early: " + ui.done.stats().generatedTokens(), ui.done.stats().generatedTokens() < 100);
        assertEquals(String.join("", ui.pieces), ui.done.text());

        ui.done = null;
        assertTrue(controller.send("again"));
        await(() -> ui.done != null);
        assertEquals("a cancel does not leak into the next reply", FinishReason.MAX_TOKENS, ui.done.finishReason());
    }

    @Test
    public void aCancelBeforeTheEngineIsOpenStillStopsTheReply() throws Exception {
        FakeEngine engine = new FakeEngine(List.of("a", "b"), 0);
        java.util.concurrent.CountDownLatch opening = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch cancelled = new java.util.concurrent.CountDownLatch(1);
        controller = new GenerationController(CONFIG, openingUntil(opening, cancelled, engine));
        Recorder ui = new Recorder();
        controller.setListener(ui);
        assertTrue(controller.send("hi"));
        opening.await();
        controller.cancel();
        cancelled.countDown();
        await(() -> ui.error != null || ui.done != null);
        assertNull(ui.done);
        assertEquals("cancelled before the reply started", ui.error);
        assertFalse(controller.isRunning());
    }

    @Test
    public void anEngineThatCannotOpenIsOneLineForTheUi() throws Exception {
        controller = new GenerationController(CONFIG, c -> {
            throw new SkipperException("bundle /data/x: manifest.json:\n  bad field");
        });
        Recorder ui = new Recorder();
        controller.setListener(ui);
        assertTrue(controller.send("hi"));
        await(() -> ui.error != null);
        assertFalse(ui.error, ui.error.contains("\n"));
        assertTrue(ui.error, ui.error.startsWith("bundle /data/x: manifest.json:"));
        assertFalse(controller.isRunning());
    }

    @Test
    public void closeCancelsTheRunningReplyAndClosesSessionAndEngine() throws Exception {
        List<String> many = Collections.nCopies(1000, "x");
        FakeEngine engine = new FakeEngine(many, 5);
        controller = new GenerationController(CONFIG, c -> engine);
        Recorder ui = new Recorder();
        controller.setListener(ui);
        controller.send("go");
        await(() -> !ui.pieces.isEmpty());
        long t0 = System.nanoTime();
        controller.close();
        assertTrue("close waits for the cancelled reply, not the whole one", System.nanoTime() - t0 < 3_000_000_000L);
        assertTrue(engine.last.cancelled);
        assertTrue(engine.last.closed);
        assertTrue(engine.closed);
        assertFalse("a closed controller starts nothing", controller.send("more"));
        controller = null;
    }

    @Test
    public void resetForgetsTheConversationAfterTheRunningReply() throws Exception {
        FakeEngine engine = new FakeEngine(List.of("a"), 0);
        controller = new GenerationController(CONFIG, c -> engine);
        Recorder ui = new Recorder();
        controller.setListener(ui);
        controller.send("one");
        controller.reset();
        await(() -> ui.done != null && engine.last != null && engine.last.resets == 1);
        assertNotNull(engine.last);
        assertEquals("the reset runs after the reply, not before it", List.of("chat", "reset"), engine.last.events);
    }

    @Test
    public void whatArrivesWithoutAListenerReachesTheNextOne() throws Exception {
        FakeEngine engine = new FakeEngine(List.of("a", "b", "c"), 0);
        controller = new GenerationController(CONFIG, c -> engine);
        Recorder first = new Recorder();
        controller.setListener(first);
        assertTrue(controller.send("hi"));
        controller.setListener(null); // the screen goes to the background at once
        await(() -> !controller.isRunning());
        assertTrue(first.pieces.isEmpty());
        Recorder next = new Recorder();
        controller.setListener(next);
        assertEquals("the missed text in one piece", List.of("abc"), next.pieces);
        assertNotNull("then the end", next.done);
        assertEquals("abc", next.done.text());
        Recorder third = new Recorder();
        controller.setListener(third);
        assertTrue("nothing is handed out twice", third.pieces.isEmpty() && third.done == null);
    }

    @Test
    public void anErrorLoadingTheModelDoesNotLeaveTheScreenBusy() throws Exception {
        controller = new GenerationController(CONFIG, c -> {
            throw new OutOfMemoryError("simulated: the model does not fit");
        });
        Recorder ui = new Recorder();
        controller.setListener(ui);
        assertTrue(controller.send("hi"));
        await(() -> ui.error != null);
        assertEquals("OutOfMemoryError: simulated: the model does not fit", ui.error);
        assertFalse(controller.isRunning());
    }

    @Test
    public void closeWhileTheEngineOpensStopsTheReplyBeforeItStarts() throws Exception {
        FakeEngine engine = new FakeEngine(Collections.nCopies(1000, "x"), 5);
        java.util.concurrent.CountDownLatch opening = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        controller = new GenerationController(CONFIG, openingUntil(opening, release, engine));
        controller.setListener(new Recorder());
        assertTrue(controller.send("hi"));
        opening.await();
        new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException ignored) {
                // the latch opens anyway
            }
            release.countDown();
        }).start();
        long t0 = System.nanoTime();
        controller.close();
        assertTrue("close did not wait for a whole reply", System.nanoTime() - t0 < 3_000_000_000L);
        assertTrue("no reply was generated", engine.last.userTurns.isEmpty());
        assertTrue(engine.last.closed && engine.closed);
        controller = null;
    }
}
