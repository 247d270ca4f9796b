package dev.skipper.android;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;

/**
 * The controller on the real engine (ONNX Runtime's desktop jar standing in for the Android AAR,
 * same API) with a tiny byte-level BPE bundle, whose tokenizer runs in Java as on a device (DJL's
 * jars are off the test class path, as app/build.gradle leaves them out of the APK): the
 * streamed reply equals a direct greedy chat on the same bundle. Skipped (and reported so) when
 * {@code skipper.tinyBundle} names no bundle.
 */
@RunWith(RobolectricTestRunner.class)
public class RealEngineTest {
    @Test
    public void theControllerStreamsWhatTheEngineGenerates() throws Exception {
        String dir = System.getProperty("skipper.tinyBundle", "");
        assumeTrue("skipper.tinyBundle names no bundle", !dir.isEmpty() && !dir.startsWith("$")
                && Files.isDirectory(Path.of(dir)));
        // as on a device: DJL's tokenizer (desktop natives) is not there, the Java encoder must do
        assertThrows(ClassNotFoundException.class,
                () -> Class.forName("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer"));
        DeploymentConfig config = DeploymentConfig.defaults(Path.of(dir));
        GenerationOptions options = config.generation().toOptions();
        GenerationResult direct;
        try (Engine e = Skipper.open(config); Session s = e.newSession()) {
            direct = s.chat(List.of(ChatMessage.user("Where is the dock?")), options, null);
        }
        try (GenerationController c = new GenerationController(config, Skipper::open)) {
            GenerationControllerTest.Recorder ui = new GenerationControllerTest.Recorder();
            c.setListener(ui);
            assertTrue(c.send("Where is the dock?"));
            GenerationControllerTest.await(() -> ui.done != null || ui.error != null);
            assertEquals(null, ui.error);
            assertFalse(ui.offMainThread);
            assertTrue(ui.done.stats().generatedTokens() > 0);
            assertEquals(direct.text(), ui.done.text());
            assertEquals(direct.text(), String.join("", ui.pieces));
        }
    }
}
