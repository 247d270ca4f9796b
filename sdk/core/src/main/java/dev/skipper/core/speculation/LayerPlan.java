package dev.skipper.core.speculation;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Which decoder layers a draft runs.
 *
 * @param name {@code early-exit@E} or {@code layer-skip}
 * @param runLayers {@code [numLayers]} whether the draft runs each layer
 */
public record LayerPlan(String name, boolean[] runLayers) {

    /** Copies the array and checks that the plan skips something and runs something. */
    public LayerPlan {
        Objects.requireNonNull(name, "name");
        runLayers = runLayers.clone();
        boolean any = false;
        boolean all = true;
        for (boolean r : runLayers) {
            any |= r;
            all &= r;
        }
        if (!any || all) {
            throw new IllegalArgumentException("a draft plan must run some layers and skip some");
        }
    }

    /**
     * Early exit: layers {@code 0 .. exitLayer-1}, then the head.
     *
     * @param numLayers the model's layers
     * @param exitLayer layers the draft runs, 1 .. numLayers-1
     * @return the plan
     */
    public static LayerPlan earlyExit(int numLayers, int exitLayer) {
        if (exitLayer < 1 || exitLayer >= numLayers) {
            throw new IllegalArgumentException("exit_layer must be in [1, " + (numLayers - 1) + "] for a model of "
                    + numLayers + " layers, got " + exitLayer);
        }
        boolean[] run = new boolean[numLayers];
        for (int l = 0; l < exitLayer; l++) {
            run[l] = true;
        }
        return new LayerPlan("early-exit@" + exitLayer, run);
    }

    /**
     * Every layer except {@code skip}.
     *
     * @param numLayers the model's layers
     * @param skip layers the draft skips, each in [0, numLayers)
     * @return the plan
     */
    public static LayerPlan skipping(int numLayers, List<Integer> skip) {
        boolean[] run = new boolean[numLayers];
        java.util.Arrays.fill(run, true);
        for (int l : skip) {
            if (l < 0 || l >= numLayers) {
                throw new IllegalArgumentException("skip_layers entry " + l + " is not a layer of a model of "
                        + numLayers + " layers");
            }
            run[l] = false;
        }
        return new LayerPlan("layer-skip", run);
    }

    /** @return the model's layer count */
    public int numLayers() {
        return runLayers.length;
    }

    /**
     * @param layer layer index
     * @return whether the draft runs it
     */
    public boolean runs(int layer) {
        return runLayers[layer];
    }

    /** @return layers the draft runs */
    public int layersRun() {
        int n = 0;
        for (boolean r : runLayers) {
            n += r ? 1 : 0;
        }
        return n;
    }

    /**
     * Leading layers the draft runs exactly as the full model does (before its first skipped
     * layer): their K/V for drafted tokens are exact and verification starts after them.
     *
     * @return the index of the first skipped layer
     */
    public int exactLayers() {
        int l = 0;
        while (l < runLayers.length && runLayers[l]) {
            l++;
        }
        return l;
    }

    /** @return the skipped layers, ascending */
    public List<Integer> skipped() {
        List<Integer> out = new ArrayList<>();
        for (int l = 0; l < runLayers.length; l++) {
            if (!runLayers[l]) {
                out.add(l);
            }
        }
        return out;
    }
}
