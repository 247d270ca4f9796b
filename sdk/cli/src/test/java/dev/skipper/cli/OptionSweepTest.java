package dev.skipper.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every option of every verb at its bounds and beyond, generated from the command tree (a new
 * option is swept without editing this test): zero, negative, one past the int range, huge,
 * NaN/Infinity, empty, whitespace, 1 MB and control-character strings, and for file options a
 * missing file, a directory, an empty file and invalid UTF-8. Each run must end within seconds with
 * exit 0 or the documented exit 2 (usage error or one {@code error:} line), never an internal error,
 * a stack trace or a hang. Runs against the fake engine: what the real engine does with accepted
 * values is swept by {@link RealBundleTest} and the engine tests.
 */
class OptionSweepTest {
    private static final String MB = "a".repeat(1 << 20);
    private static final List<String> NUMBERS = List.of("0", "-1", "1", "2147483647", "2147483648", "-2147483649",
            "99999999999999999999999", "1.5", "0x10", "abc", "", " ");
    private static final List<String> FLOATS = List.of("0", "-0", "-1", "1e-320", "1e308", "NaN", "Infinity",
            "-Infinity", "abc", "", "0x1p3");
    private static final List<String> STRINGS = List.of("", " ", "\t\n", MB, "\u0000", "\uD800", "é😀", "--prompt");

    @TempDir
    static Path tmp;
    private static Map<String, String> base;
    private static List<String> files;

    @BeforeAll
    static void files() throws IOException {
        Path empty = Files.createFile(tmp.resolve("empty.txt"));
        Path binary = Files.write(tmp.resolve("binary.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, (byte) 0xc3});
        Path big = Files.writeString(tmp.resolve("big.txt"), MB);
        Path dir = Files.createDirectory(tmp.resolve("dir"));
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), "hello\n");
        files = List.of(tmp.resolve("missing.txt").toString(), dir.toString(), empty.toString(), binary.toString(),
                big.toString(), "", prompts.toString());
        base = Map.of("--prompt", "x", "--text-file", prompts.toString(), "--prompts", prompts.toString());
    }

    @Test
    void everyOptionAtItsBoundsEndsWithSuccessOrAOneLineError() {
        java.io.PrintWriter sink = new java.io.PrintWriter(java.io.Writer.nullWriter());
        CommandLine root = Main.commandLine(new CliContext(sink, sink,
                new java.io.BufferedReader(java.io.Reader.nullReader()), new FakeEngine(), false));
        int runs = 0;
        for (Map.Entry<String, CommandLine> sub : root.getSubcommands().entrySet()) {
            String verb = sub.getKey();
            CommandSpec spec = sub.getValue().getCommandSpec();
            for (OptionSpec o : spec.options()) {
                if (o.usageHelp() || o.versionHelp() || o.arity().max() == 0) {
                    runs += sweep(verb, spec, o.longestName(), List.of(""), true);
                    continue;
                }
                runs += sweep(verb, spec, o.longestName(), values(o), false);
            }
        }
        System.out.println("option sweep: " + runs + " command lines");
        assertTrue(runs > 300, "the sweep must cover the options, ran " + runs);
        for (String blank : List.of("", " ", "\t\n")) { // a blank output name is refused, never written
            if (!blank.isEmpty()) {
                assertFalse(Files.exists(Path.of(blank)), "a file named '" + blank + "' was written");
            }
        }
    }

    private static List<String> values(OptionSpec o) {
        Class<?> type = o.type().isArray() ? o.type().getComponentType() : o.type();
        if (List.class.isAssignableFrom(type) && !o.auxiliaryTypes()[0].equals(String.class)) {
            type = o.auxiliaryTypes()[0];
        }
        if (type == Path.class || type == java.io.File.class || o.longestName().contains("file")
                || o.longestName().equals("--prompts") || o.longestName().equals("--config")
                || o.longestName().equals("--bundle") || o.longestName().equals("--json") && type != boolean.class) {
            List<String> v = new ArrayList<>(files);
            v.addAll(STRINGS.subList(0, 4));
            return v;
        }
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) {
            return NUMBERS;
        }
        if (type == double.class || type == Double.class || type == float.class || type == Float.class) {
            return FLOATS;
        }
        List<String> v = new ArrayList<>(STRINGS);
        v.addAll(List.of("cpu,,cpu", "auto,cpu", "0"));
        return v;
    }

    private static int sweep(String verb, CommandSpec spec, String option, List<String> values, boolean flag) {
        int n = 0;
        for (String value : values) {
            List<String> args = new ArrayList<>(List.of(verb, "--bundle", "b"));
            for (OptionSpec o : spec.options()) { // the verb's required options, unless swept now
                if (o.required() && !o.longestName().equals(option)) {
                    args.add(o.longestName());
                    args.add(base.getOrDefault(o.longestName(), "x"));
                }
            }
            if (option.equals("--bundle")) {
                args.subList(1, 3).clear();
            }
            args.add(option);
            if (!flag) {
                args.add(value);
            }
            check(args.toArray(String[]::new));
            n++;
        }
        return n;
    }

    private static void check(String[] args) {
        String shown = String.join(" ", args).replace(MB, "<1 MB>");
        Cli.Result r = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> Cli.withInput(new FakeEngine(), "", args),
                () -> "hung: " + shown);
        if (r.status() != 0 && r.status() != 2) {
            fail("exit " + r.status() + " for " + shown + "\n" + r.err());
        }
        assertFalse(r.err().contains("internal error") || r.err().contains("\tat ") || r.err().contains("Exception:"),
                () -> "internal error or stack trace for " + shown + "\n" + r.err());
        if (r.status() == 2) {
            assertTrue(r.err().startsWith("error: "), () -> "exit 2 without an error line for " + shown + "\n" + r.err());
            assertTrue(r.err().lines().findFirst().orElse("").length() < 600,
                    () -> "the error line must stay readable (values are clipped) for " + shown);
        }
    }
}
