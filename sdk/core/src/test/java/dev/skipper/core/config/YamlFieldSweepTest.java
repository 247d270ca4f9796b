package dev.skipper.core.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every scalar field of {@code configs/reference.yaml} (all keys, documented) replaced in turn by
 * values at and beyond its bounds: zero, negative, one past the int range, huge, NaN/Infinity,
 * booleans and numbers where the other is expected, empty and 1 MB strings, control characters,
 * YAML tags, anchors and nested collections. Each load must end within seconds, either with a
 * config or with the documented {@link ConfigException}: one line naming the file, its line and the
 * key. Never another exception.
 */
class YamlFieldSweepTest {
    private static final Pattern SCALAR = Pattern.compile("^(\\s*)([a-z_]+):( *)(\\S[^#]*?)?\\s*(#.*)?$");
    private static final List<String> VALUES = List.of("0", "-1", "1", "2147483647", "2147483648", "-2147483649",
            "99999999999999999999999", "1.5", "-0.0", "1e309", ".nan", ".inf", "-.inf", "NaN", "true", "false",
            "null", "~", "''", "' '", "\"\\0\"", "\"\\uD800\"", "'" + "a".repeat(1 << 20) + "'", "[1, 2]", "{a: 1}",
            "!!binary AAAA", "!!python/object:os.system x", "&a 1", "*a", "|\n    multi\n    line", "\"é😀\"");

    @TempDir
    Path tmp;

    @Test
    void everyFieldAtItsBoundsLoadsOrFailsWithOneLocatedLine() throws Exception {
        List<String> lines = Files.readAllLines(RepoRoot.find().resolve("configs/reference.yaml"));
        int runs = 0;
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = SCALAR.matcher(lines.get(i));
            if (lines.get(i).strip().startsWith("#") || !m.matches() || m.group(4) == null) {
                continue; // comments, section headers (no value) and blank lines
            }
            for (String value : VALUES) {
                List<String> edited = new ArrayList<>(lines);
                edited.set(i, m.group(1) + m.group(2) + ": " + value);
                Path yaml = tmp.resolve("sweep.yaml");
                Files.write(yaml, edited);
                String shown = m.group(2) + ": " + (value.length() > 40 ? value.length() + " chars" : value);
                assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                    try {
                        DeploymentConfigLoader.load(yaml);
                    } catch (ConfigException e) {
                        String msg = e.getMessage();
                        assertFalse(msg.contains("\n"), shown + ": multi-line message " + msg);
                        assertTrue(msg.startsWith(yaml.toString()), shown + ": the message names the file: " + msg);
                        assertTrue(msg.length() < 1000, shown + ": message of " + msg.length() + " chars");
                    } catch (Exception | Error e) {
                        fail(shown + ": undocumented " + e);
                    }
                }, () -> "hung on " + shown);
                runs++;
            }
        }
        System.out.println("yaml field sweep: " + runs + " files");
        assertTrue(runs > 500, "the sweep must cover the fields, ran " + runs);
    }
}
