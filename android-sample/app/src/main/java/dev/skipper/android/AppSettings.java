package dev.skipper.android;

import android.content.Context;
import android.content.res.AssetManager;
import dev.skipper.core.config.ConfigException;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The app's deployment: {@value #ASSET} from the APK's assets, read with Skipper's own loader (the
 * same schema, limits and one-line errors as on a desktop), its relative {@code bundle} resolved
 * against the app's storage folder ({@link #storageDir}).
 */
public final class AppSettings {
    /** The deployment file among the assets. */
    public static final String ASSET = "skipper.yaml";

    private AppSettings() {}

    /**
     * Where bundles live: the app-specific external folder, which {@code adb push} can write to
     * without root, else the internal files folder.
     *
     * @param context any context of the app
     * @return the folder
     */
    public static File storageDir(Context context) {
        File external = context.getExternalFilesDir(null);
        return external != null ? external : context.getFilesDir();
    }

    /**
     * @param context any context of the app
     * @return the deployment
     * @throws ConfigException when the asset is invalid (the message names {@value #ASSET}, the line and the key)
     * @throws IOException when the asset cannot be read
     */
    public static DeploymentConfig load(Context context) throws ConfigException, IOException {
        return parse(context.getAssets(), storageDir(context));
    }

    /**
     * @param assets the app's assets
     * @param storage the folder a relative bundle is resolved against
     * @return the deployment
     * @throws ConfigException when the asset is invalid
     * @throws IOException when the asset cannot be read or is too large
     */
    static DeploymentConfig parse(AssetManager assets, File storage) throws ConfigException, IOException {
        try (InputStream in = assets.open(ASSET)) {
            return parse(in, storage);
        }
    }

    /**
     * @param in the deployment's bytes (UTF-8)
     * @param storage the folder a relative bundle is resolved against
     * @return the deployment
     * @throws ConfigException when the text is invalid
     * @throws IOException when it cannot be read or is too large
     */
    static DeploymentConfig parse(InputStream in, File storage) throws ConfigException, IOException {
        String text = readCapped(in, DeploymentConfigLoader.MAX_FILE_BYTES);
        // The asset stands for a file in the storage folder: relative paths resolve there and
        // messages name it as the asset it came from.
        return DeploymentConfigLoader.parse(text, Path.of(storage.getPath(), ASSET));
    }

    static String readCapped(InputStream in, long limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) > 0; ) {
            if (out.size() + (long) n > limit) {
                throw new IOException("assets/" + ASSET + ": larger than " + limit + " bytes");
            }
            out.write(buf, 0, n);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
