package dev.skipper.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A progress bar on stderr for long work (engine builds take minutes on a Jetson): redrawn in place
 * on a terminal ({@code \r}), one line per item otherwise, so that logs and CI output stay readable.
 */
final class ProgressLine {
    private static final int WIDTH = 24;

    private final PrintWriter err;
    private final String label;
    private final boolean redraw;
    private final LongSupplier clock;
    private final long start;
    private boolean open; // a redrawn line is on the screen without its newline yet

    /**
     * @param err where it is drawn
     * @param label the command, at the start of every line
     * @param redraw redraw one line in place (a terminal) instead of a line per item
     * @param clock nanoseconds (tests pass a fake)
     */
    ProgressLine(PrintWriter err, String label, boolean redraw, LongSupplier clock) {
        this.err = err;
        this.label = label;
        this.redraw = redraw;
        this.clock = clock;
        this.start = clock.getAsLong();
    }

    /** On the process's stderr: redrawn when it is a terminal. */
    static ProgressLine forCommand(PrintWriter err, String label) {
        return new ProgressLine(err, label, System.console() != null, System::nanoTime);
    }

    /**
     * @param done items finished, 1..total
     * @param total items in all
     * @param item what was just finished
     * @param note a word about it ({@code built}, {@code cached})
     */
    void update(int done, int total, String item, String note) {
        double elapsed = (clock.getAsLong() - start) / 1e9;
        String left = done < total && done > 0 ? ", ~" + clock(elapsed / done * (total - done)) + " left" : "";
        String line = String.format(Locale.ROOT, "%s: %s %d/%d %s (%s) %s elapsed%s", label, bar(done, total), done,
                total, item, note, clock(elapsed), left);
        if (redraw) {
            err.print("\r" + line + "\u001b[K"); // erase what a longer previous line left
            open = done < total;
            if (!open) {
                err.println();
            }
        } else {
            err.println(line);
        }
        err.flush();
    }

    /** Ends a redrawn line that did not reach its total (an error stopped the work). */
    void finish() {
        if (open) {
            err.println();
            err.flush();
            open = false;
        }
    }

    static String bar(int done, int total) {
        int filled = total <= 0 ? WIDTH : (int) Math.round((double) WIDTH * Math.min(done, total) / total);
        return "[" + "#".repeat(filled) + "-".repeat(WIDTH - filled) + "]";
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
