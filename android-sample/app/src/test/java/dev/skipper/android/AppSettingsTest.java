package dev.skipper.android;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import android.app.Application;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.ConfigException;
import dev.skipper.core.config.DeploymentConfig;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;

/** The deployment asset (read through the app's AssetManager) and the model-storage checks. */
@RunWith(RobolectricTestRunner.class)
public class AppSettingsTest {

    @Test
    public void theShippedAssetIsReadThroughTheAssetManager() throws Exception {
        Application app = RuntimeEnvironment.getApplication();
        assertTrue("the manifest's application class runs", app instanceof SkipperApp);
        DeploymentConfig c = AppSettings.load(app);
        File storage = AppSettings.storageDir(app);
        assertEquals(new File(storage, "bundles/smollm2-135m-int4-ort").getAbsolutePath(), c.bundle().toString());
        assertEquals(4, c.threads());
        assertFalse("no spinning workers on a battery", c.allowSpinning());
        assertEquals(1024, c.contextLength());
        assertEquals(SpeculationMode.AUTO, c.speculation().mode());
        assertTrue(c.generation().toOptions().sampling().greedy());
    }

    @Test
    public void aBadAssetIsRefusedNamingItAndTheKey() {
        File storage = new File("/data/app-files");
        ConfigException e = assertThrows(ConfigException.class, () -> AppSettings.parse(
                new ByteArrayInputStream("bundle: b\nthreads: many\n".getBytes(StandardCharsets.UTF_8)), storage));
        assertTrue(e.getMessage(), e.getMessage().contains("skipper.yaml") && e.getMessage().contains("threads"));
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    public void anOversizedAssetIsRefusedBeforeItIsParsed() {
        byte[] big = new byte[2 * 1024 * 1024];
        IOException e = assertThrows(IOException.class, () -> AppSettings.readCapped(new ByteArrayInputStream(big), 1024 * 1024));
        assertTrue(e.getMessage(), e.getMessage().contains("larger than 1048576 bytes"));
    }

    @Test
    public void aMissingModelSaysHowToPushIt() throws Exception {
        File storage = Files.createTempDirectory("files").toFile();
        File bundle = new File(storage, "bundles/smollm2");
        String p = ModelStore.problem(bundle, storage);
        assertTrue(p, p.contains("is not on the device") && p.contains("adb push <bundle folder> "
                + new File(storage, "bundles").getAbsolutePath() + "/"));
        assertTrue(bundle.mkdirs());
        assertTrue(ModelStore.problem(bundle, storage).contains("has no manifest.yaml"));
        Files.writeString(new File(bundle, "manifest.yaml").toPath(), "format_version: 1\n");
        assertNull(ModelStore.problem(bundle, storage));
    }
}
