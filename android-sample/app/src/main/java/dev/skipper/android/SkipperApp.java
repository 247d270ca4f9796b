package dev.skipper.android;

import android.app.Application;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;

/**
 * Holds the one {@link GenerationController} of the process, so that the model stays loaded and a
 * reply keeps running while Activities come and go.
 */
public class SkipperApp extends Application {
    private GenerationController controller;
    private String problem;

    /**
     * The controller, made on first use from the deployment asset.
     *
     * @return the controller, or {@code null} when the settings or the model are not usable
     *     ({@link #problem()} says why)
     */
    public synchronized GenerationController controller() {
        if (controller == null && problem == null) {
            try {
                DeploymentConfig config = AppSettings.load(this);
                problem = ModelStore.problem(config.bundle().toFile(), AppSettings.storageDir(this));
                if (problem == null) {
                    controller = new GenerationController(config, Skipper::open);
                }
            } catch (Exception e) { // ConfigException, IOException: shown to the user, one line
                problem = dev.skipper.api.SkipperException.oneLine(String.valueOf(e.getMessage()));
            }
        }
        return controller;
    }

    /** @return why there is no controller, or {@code null} */
    public synchronized String problem() {
        return problem;
    }

    /** Forgets a problem so that the next {@link #controller()} looks again (after a push). */
    public synchronized void retry() {
        problem = null;
    }

    @Override
    public void onTerminate() {
        synchronized (this) {
            if (controller != null) {
                controller.close();
                controller = null;
            }
        }
        super.onTerminate();
    }
}
