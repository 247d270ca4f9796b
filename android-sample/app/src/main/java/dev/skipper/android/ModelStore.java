package dev.skipper.android;

import java.io.File;

/**
 * Checks that the bundle a deployment names is on the device before the engine is opened, so a
 * missing model is one clear sentence in the UI (how to push it) rather than an exception.
 */
public final class ModelStore {
    private ModelStore() {}

    /**
     * @param bundle the bundle folder from the deployment
     * @param storage the app's storage folder ({@link AppSettings#storageDir}), where a bundle
     *     without a parent folder goes
     * @return {@code null} when the bundle is there, else what is wrong and how to fix it, one line
     */
    public static String problem(File bundle, File storage) {
        if (new File(bundle, dev.skipper.bundle.BundleManifest.MANIFEST_FILE).isFile()) {
            return null;
        }
        String what = bundle.isDirectory() ? "has no " + dev.skipper.bundle.BundleManifest.MANIFEST_FILE + " (not a Skipper bundle, or copied in part)"
                : "is not on the device";
        File parent = bundle.getAbsoluteFile().getParentFile();
        return "the model bundle " + bundle + " " + what + ": export it (./skipper export) and push it with "
                + "adb push <bundle folder> " + (parent != null ? parent : storage) + "/";
    }
}
