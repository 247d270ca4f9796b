package dev.skipper.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Assertions;

/**
 * The exporter's test data ({@code -Dskipper.testData=DIR}: cases {@code DIR/<case>/bundle} and
 * {@code DIR/<case>/goldens.json}, written by {@code python -m skipper_export goldens [--real]}) and
 * the one rule for missing data, shared by every module's tests:
 *
 * <ul>
 *   <li>missing data skips the test (reported as skipped), unless
 *       {@code -Dskipper.requireTestData=true} ({@code ./skipper test} and CI set it): then it fails;
 *   <li>{@code ./skipper test} with {@code SKIPPER_TEST_REAL=0} generates no SmolLM2 cases and says
 *       so with {@code -Dskipper.testReal=false}: their tests are skipped, never failed;
 *   <li>the cases the test data calibrates ({@link #calibratedByTestData}) must hold the
 *       calibration artefacts; the others skip what needs them.
 * </ul>
 */
public final class TestData {
    private TestData() {
    }

    /**
     * The test data directory.
     *
     * @return it (or a skip / failure when it is missing)
     */
    public static Path root() {
        String dir = System.getProperty("skipper.testData");
        if (dir == null || dir.isBlank()) {
            missing("-Dskipper.testData is not set");
        }
        Path root = Path.of(dir);
        if (!Files.isDirectory(root)) {
            missing("test data directory " + root + " does not exist");
        }
        return root;
    }

    /**
     * A case with goldens.
     *
     * @param name the case
     * @return its directory, holding {@code bundle/} and {@code goldens.json}
     */
    public static Path caseDir(String name) {
        return caseDir(name, true);
    }

    /**
     * A case's bundle, for cases written with or without goldens.
     *
     * @param name the case
     * @return the bundle directory
     */
    public static Path bundle(String name) {
        return caseDir(name, false).resolve("bundle");
    }

    /**
     * A case's goldens.
     *
     * @param name the case
     * @return them
     */
    public static Goldens goldens(String name) {
        return Goldens.read(caseDir(name).resolve("goldens.json"));
    }

    private static Path caseDir(String name, boolean goldens) {
        skipRealWhenOff(name);
        Path dir = root().resolve(name);
        if (!Files.isDirectory(dir.resolve("bundle")) || (goldens && !Files.isRegularFile(dir.resolve("goldens.json")))) {
            missing("test case " + dir + " is missing (generate it with: python -m skipper_export goldens"
                    + (name.startsWith("smollm2") ? " --real" : "") + ")");
        }
        return dir;
    }

    /**
     * Skips SmolLM2 cases when the run has them off ({@code -Dskipper.testReal=false}).
     *
     * @param name the case
     */
    public static void skipRealWhenOff(String name) {
        if (name.startsWith("smollm2") && "false".equals(System.getProperty("skipper.testReal"))) {
            Assumptions.abort(name + ": SmolLM2 cases are off (SKIPPER_TEST_REAL=0)");
        }
    }

    /**
     * Whether {@code skipper_export goldens} calibrates a case (exit heads, draft vocabulary,
     * routers, kv_fill graphs): every case but the float16 standard-flavour and fp32 SmolLM2 ones
     * ({@link #UNCALIBRATED} is the one tests of refusals open).
     *
     * @param name the case
     * @return true when its bundle must hold the calibration artefacts
     */
    public static boolean calibratedByTestData(String name) {
        return !(name.equals(UNCALIBRATED) || name.equals("smollm2-fp32"));
    }

    /** A tiny case the test data does not calibrate: what a bundle without draft artefacts gets. */
    public static final String UNCALIBRATED = "tiny-bpe-fp16-standard";

    /**
     * Whether the test data trains a feature drafter for a case (the tiny calibrated ones: a few
     * seconds; SmolLM2's would take minutes).
     *
     * @param name the case
     * @return true when its bundle must hold a feature drafter
     */
    public static boolean featureDrafterByTestData(String name) {
        return calibratedByTestData(name) && name.startsWith("tiny");
    }

    /**
     * Fails when a case the test data trains a feature drafter for lacks one; skips (reported as
     * skipped) the others.
     *
     * @param name the case
     * @param present whether the bundle has a feature drafter
     */
    public static void requireFeatureDrafter(String name, boolean present) {
        if (featureDrafterByTestData(name)) {
            if (!present) {
                Assertions.fail(name + ": the test data trains a feature drafter for this case, but it has none");
            }
        } else {
            Assumptions.abort(name + ": the test data trains no feature drafter for this case");
        }
    }

    /**
     * Fails when a case the test data calibrates lacks an artefact; skips (reported as skipped)
     * the cases it does not calibrate.
     *
     * @param name the case
     * @param present whether the artefact is there
     * @param what the artefact, for the message
     */
    public static void requireCalibrated(String name, boolean present, String what) {
        if (calibratedByTestData(name)) {
            if (!present) {
                Assertions.fail(name + ": the test data calibrates this case, but it has no " + what);
            }
        } else {
            Assumptions.abort(name + ": not calibrated by the test data, so no " + what);
        }
    }

    /**
     * Skips, or fails under {@code -Dskipper.requireTestData=true}.
     *
     * @param why what is missing
     */
    public static void missing(String why) {
        if (Boolean.getBoolean("skipper.requireTestData")) {
            Assertions.fail(why + " and -Dskipper.requireTestData=true");
        }
        Assumptions.abort(why);
    }
}
