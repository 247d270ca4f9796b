package dev.skipper.bundle;

/** What every refusal of a fuzzed input must look like. */
final class Checks {
    private Checks() {
    }

    /**
     * @param message an exception's message
     * @throws AssertionError when it is empty or spans lines (a finding)
     */
    static void oneLine(String message) {
        if (message == null || message.isBlank() || message.indexOf('\n') >= 0 || message.indexOf('\r') >= 0) {
            throw new AssertionError("a refusal must be one non-empty line, got: " + message);
        }
    }
}
