package dev.skipper.core.config;

import dev.skipper.bundle.yaml.HardenedYaml;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.DoublePredicate;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Typed reads of a composed YAML node tree, each failing with a {@link ConfigException} that names
 * the file, the node's line and the key path.
 *
 * <p>The YAML 1.1 rules SnakeYAML resolves with are narrowed here, because their surprises are
 * silent: booleans must be {@code true} or {@code false} (not {@code yes}, {@code no}, {@code on},
 * {@code off}); integers must be plain decimal (not {@code 010}, which YAML 1.1 reads as octal 8,
 * nor hex, {@code 1_000} or {@code 1:30}); numbers must be plain decimal (no {@code .inf} or
 * {@code .nan}); and a free-text value (a path, a stop string) that YAML would read as something
 * else ({@code 1.10} as the float 1.1, {@code no} as false, {@code ~} as null) must be quoted.
 * Closed sets of words (backend names, the speculation mode) are matched on the text as written,
 * so {@code mode: off} means the mode "off", not the boolean false.
 */
final class NodeReader {
    private static final Pattern DECIMAL_INTEGER = Pattern.compile("[-+]?(0|[1-9][0-9]*)");
    private static final Pattern DECIMAL_NUMBER = Pattern.compile(
            "[-+]?((0|[1-9][0-9]*)(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?");

    private final Path file;

    NodeReader(Path file) {
        this.file = file;
    }

    ConfigException fail(Node at, String keyPath, String problem) {
        int line = at == null || at.getStartMark() == null ? 0 : at.getStartMark().getLine() + 1;
        return new ConfigException(file, line, keyPath, problem, null);
    }

    /** The top-level mapping, whose keys must all be known and distinct. */
    Section section(Node node, List<String> known) throws ConfigException {
        return section(node, "", known, node);
    }

    /**
     * A mapping whose keys must all be known and distinct.
     *
     * @param where the node a missing key is reported at: the key that holds this mapping (a block
     *     mapping itself starts at its first key, a line too late)
     */
    private Section section(Node node, String path, List<String> known, Node where) throws ConfigException {
        if (!(node instanceof MappingNode mapping)) {
            throw fail(node, path, (path.isEmpty() ? "the file must be a mapping of keys" : "must be a mapping")
                    + ", got " + describe(node));
        }
        // Keys are plain scalars, each once, no merge key: HardenedYaml checked the whole tree.
        Map<String, NodeTuple> entries = new LinkedHashMap<>();
        for (NodeTuple t : mapping.getValue()) {
            ScalarNode k = (ScalarNode) t.getKeyNode();
            String key = k.getValue();
            if (!known.contains(key)) {
                throw fail(k, HardenedYaml.child(path, key), "unknown key" + suggestion(key, known)
                        + "; known keys here: " + String.join(", ", known));
            }
            entries.put(key, t);
        }
        return new Section(path, where, entries);
    }

    boolean bool(Node node, String path) throws ConfigException {
        ScalarNode s = scalar(node, path, "true or false");
        String text = s.getValue().toLowerCase(Locale.ROOT);
        if (Tag.BOOL.equals(s.getTag()) && (text.equals("true") || text.equals("false"))) {
            return text.equals("true");
        }
        if (Tag.BOOL.equals(s.getTag())) {
            throw fail(node, path, "must be true or false, got " + s.getValue()
                    + " (YAML 1.1 words like yes/no/on/off are refused: they are easy to write by accident)");
        }
        throw fail(node, path, "must be true or false, got " + describe(node));
    }

    /** A plain decimal integer in [min, max]. */
    long integer(Node node, String path, long min, long max) throws ConfigException {
        String range = max == Long.MAX_VALUE && min == Long.MIN_VALUE ? "an integer"
                : max >= Integer.MAX_VALUE ? "an integer >= " + min : "an integer from " + min + " to " + max;
        ScalarNode s = scalar(node, path, range);
        if (!Tag.INT.equals(s.getTag())) {
            throw fail(node, path, "must be " + range + ", got " + describe(node));
        }
        if (!DECIMAL_INTEGER.matcher(s.getValue()).matches()) {
            throw fail(node, path, "must be written in plain decimal, got " + s.getValue()
                    + " (YAML 1.1 reads 010 as octal 8; hex, '_' and ':' forms are refused too)");
        }
        long v;
        try {
            v = Long.parseLong(s.getValue());
        } catch (NumberFormatException e) {
            throw fail(node, path, "must be " + range + ", got " + s.getValue());
        }
        if (v < min || v > max) {
            throw fail(node, path, "must be " + range + ", got " + v);
        }
        return v;
    }

    /** A plain decimal number accepted by {@code ok}; {@code range} says which, for the message. */
    double number(Node node, String path, DoublePredicate ok, String range) throws ConfigException {
        ScalarNode s = scalar(node, path, "a number " + range);
        boolean numeric = Tag.INT.equals(s.getTag()) || Tag.FLOAT.equals(s.getTag());
        if (!numeric || !DECIMAL_NUMBER.matcher(s.getValue()).matches()) {
            throw fail(node, path, "must be a number " + range + " in plain decimal, got " + describe(node));
        }
        double v = Double.parseDouble(s.getValue());
        if (!ok.test(v)) {
            throw fail(node, path, "must be a number " + range + ", got " + s.getValue());
        }
        return v;
    }

    /** Free text; a plain scalar that YAML resolves to another type must be quoted. */
    String string(Node node, String path) throws ConfigException {
        ScalarNode s = scalar(node, path, "a string");
        if (!Tag.STR.equals(s.getTag())) {
            String type = typeName(s.getTag());
            throw fail(node, path, "must be a string, got " + describe(node)
                    + (type == null ? "" : " (unquoted, YAML reads it as " + type + "; write \"" + clip(s.getValue())
                            + "\" to mean the text)"));
        }
        return s.getValue();
    }

    /** One of a closed set of words, matched case-insensitively on the text as written. */
    <E> E choice(Node node, String path, E[] values, Function<E, String> spelling) throws ConfigException {
        List<String> names = new ArrayList<>();
        for (E v : values) {
            names.add(spelling.apply(v));
        }
        String expected = "one of " + String.join(", ", names);
        ScalarNode s = scalar(node, path, expected);
        if (!Tag.NULL.equals(s.getTag())) {
            for (E v : values) {
                if (spelling.apply(v).equalsIgnoreCase(s.getValue())) {
                    return v;
                }
            }
        }
        throw fail(node, path, "must be " + expected + ", got " + describe(node));
    }

    /** The elements of a list. */
    List<Node> list(Node node, String path) throws ConfigException {
        if (!(node instanceof SequenceNode seq)) {
            throw fail(node, path, "must be a list, got " + describe(node));
        }
        return seq.getValue();
    }

    static boolean isNull(Node node) {
        return HardenedYaml.isNull(node);
    }

    static String child(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    static String element(String path, int index) {
        return path + "[" + index + "]";
    }

    private ScalarNode scalar(Node node, String path, String expected) throws ConfigException {
        if (!(node instanceof ScalarNode s)) {
            throw fail(node, path, "must be " + expected + ", got " + describe(node));
        }
        return s;
    }

    /** What a non-string standard tag reads as, or null for str and for tags no field accepts. */
    private static String typeName(Tag tag) {
        if (Tag.BOOL.equals(tag)) {
            return "a boolean";
        }
        if (Tag.INT.equals(tag)) {
            return "an integer";
        }
        if (Tag.FLOAT.equals(tag)) {
            return "a float";
        }
        if (Tag.NULL.equals(tag)) {
            return "null";
        }
        if (Tag.TIMESTAMP.equals(tag)) {
            return "a timestamp";
        }
        return null;
    }

    static String describe(Node node) {
        if (node instanceof MappingNode) {
            return "a mapping";
        }
        if (node instanceof SequenceNode) {
            return "a list";
        }
        if (isNull(node)) {
            return "nothing (null)";
        }
        String text = clip(((ScalarNode) node).getValue());
        return Tag.STR.equals(node.getTag()) ? "'" + text + "'" : text;
    }

    static String clip(String s) {
        String one = s.replace("\n", "\\n").replace("\r", "\\r");
        return one.length() <= 60 ? one : one.substring(0, 57) + "...";
    }

    /** " (did you mean top_k?)" when the key differs from a known one only in case, '_' or '-'. */
    private static String suggestion(String key, List<String> known) {
        String squashed = squash(key);
        for (String k : known) {
            if (squash(k).equals(squashed)) {
                return " (did you mean " + k + "?)";
            }
        }
        return "";
    }

    private static String squash(String s) {
        return s.replace("_", "").replace("-", "").toLowerCase(Locale.ROOT);
    }

    /** A validated mapping at a key path. */
    final class Section {
        final String path;
        /** Where a missing key is reported. */
        private final Node where;
        private final Map<String, NodeTuple> entries;

        Section(String path, Node where, Map<String, NodeTuple> entries) {
            this.path = path;
            this.where = where;
            this.entries = entries;
        }

        /** The mapping under a key, or null when the key is absent or empty (= all defaults). */
        Section optionalSection(String key, List<String> known) throws ConfigException {
            NodeTuple t = entries.get(key);
            if (t == null || isNull(t.getValueNode())) {
                return null;
            }
            return section(t.getValueNode(), child(key), known, t.getKeyNode());
        }

        String child(String key) {
            return NodeReader.child(path, key);
        }

        /** The key's value, or null when the key is absent or its value is empty/null (= the default). */
        Node optional(String key) {
            NodeTuple t = entries.get(key);
            return t == null || isNull(t.getValueNode()) ? null : t.getValueNode();
        }

        /** The key's value; absent or empty is an error. */
        Node required(String key) throws ConfigException {
            NodeTuple t = entries.get(key);
            if (t == null) {
                throw fail(where, child(key), "is missing");
            }
            if (isNull(t.getValueNode())) {
                throw fail(t.getValueNode(), child(key), "must have a value");
            }
            return t.getValueNode();
        }
    }
}
