package dev.skipper.bundle.yaml;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.composer.Composer;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.parser.Parser;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * The one policy for reading YAML that Skipper did not write itself: bundle manifests and
 * deployment files both go through it.
 *
 * <ul>
 *   <li>Text only as strict UTF-8 ({@link #decodeUtf8}); a byte order mark is dropped.
 *   <li>Parsed into SnakeYAML's node tree and no further: no constructor runs on the document, so
 *       no tag can make SnakeYAML build an object. Global tags ({@code !!javax...}) are refused by
 *       the composer; a local tag ({@code !x}) or a standard non-scalar type ({@code !!binary},
 *       {@code !!timestamp}) is refused by {@link #unsupportedTag}.
 *   <li>Limits against hostile files ({@link Limits}): aliases to collections ("billion laughs"),
 *       nesting depth, code points; one document; no merge keys ({@code <<} stays an ordinary key);
 *       no recursive keys.
 *   <li>Every mapping key a plain scalar, each key once, no merge key (SnakeYAML's
 *       {@code allowDuplicateKeys=false} acts only while constructing, which never happens here).
 *   <li>Problems are reported as one line with the line number ({@link Failure}); the caller wraps
 *       them in its own located exception with the file and key path.
 * </ul>
 */
public final class HardenedYaml {
    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private HardenedYaml() {
    }

    /**
     * Limits for one kind of file.
     *
     * @param maxCodePoints most code points
     * @param maxAliases most aliases to mappings or lists
     * @param maxNesting deepest nesting of mappings and lists
     */
    public record Limits(int maxCodePoints, int maxAliases, int maxNesting) {
        /** Validates. */
        public Limits {
            if (maxCodePoints < 1 || maxAliases < 0 || maxNesting < 1) {
                throw new IllegalArgumentException("invalid YAML limits");
            }
        }
    }

    /** A YAML problem at a line (0 when unknown) and key path (null when none), in one line of text. */
    public static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        private final int line;
        private final String keyPath;
        private final String problem;

        /**
         * @param line 1-based line, 0 when unknown
         * @param keyPath the key path ({@code model.num_layers}, {@code graphs.layers[3]}), or null
         * @param problem what is wrong, one line
         * @param cause the parser's exception, or null
         */
        public Failure(int line, String keyPath, String problem, Throwable cause) {
            super(problem, cause);
            this.line = line;
            this.keyPath = keyPath;
            this.problem = problem;
        }

        /** @return 1-based line, 0 when unknown */
        public int line() {
            return line;
        }

        /** @return the key path, or null for the document as a whole */
        public String keyPath() {
            return keyPath;
        }

        /** @return what is wrong, one line */
        public String problem() {
            return problem;
        }
    }

    /**
     * Decodes strict UTF-8 (a malformed byte is an error, not a replacement character) and drops a
     * leading byte order mark.
     *
     * @param bytes the file's bytes
     * @return the text
     * @throws CharacterCodingException when the bytes are not UTF-8
     */
    public static String decodeUtf8(byte[] bytes) throws CharacterCodingException {
        String text = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes))
                .toString();
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }

    /**
     * Composes one document into a node tree under the limits and checks it ({@link #checkTree}).
     *
     * @param text the YAML text
     * @param limits the limits
     * @return the root node, or {@code null} for an empty document (only comments or nothing)
     * @throws Failure when the text is not valid YAML, breaks a limit ({@code "invalid YAML: ..."})
     *     or fails {@link #checkTree}
     */
    public static Node compose(String text, Limits limits) throws Failure {
        Node root = composeOnly(text, limits);
        if (root != null) {
            checkTree(root, "", Collections.newSetFromMap(new IdentityHashMap<>()));
        }
        return root;
    }

    /**
     * Every node has a type our files use ({@link #unsupportedTag}); every mapping key is a plain
     * scalar, no merge key ({@code <<}), each key once. Each collection is checked once, however
     * many aliases point at it.
     */
    private static void checkTree(Node node, String path, Set<Node> seen) throws Failure {
        String bad = unsupportedTag(node);
        if (bad != null) {
            throw new Failure(line(node), path.isEmpty() ? null : path, bad, null);
        }
        if (node instanceof ScalarNode || !seen.add(node)) {
            return;
        }
        if (node instanceof SequenceNode seq) {
            List<Node> items = seq.getValue();
            for (int i = 0; i < items.size(); i++) {
                checkTree(items.get(i), path + "[" + i + "]", seen);
            }
            return;
        }
        Set<String> keys = new HashSet<>();
        for (NodeTuple t : ((MappingNode) node).getValue()) {
            Node k = t.getKeyNode();
            if (!(k instanceof ScalarNode ks) || Tag.NULL.equals(k.getTag())) {
                throw new Failure(line(k), path.isEmpty() ? null : path,
                        "keys must be plain words, got a key that is " + describe(k), null);
            }
            if (Tag.MERGE.equals(k.getTag())) {
                throw new Failure(line(k), path.isEmpty() ? "<<" : path + ".<<", "merge keys (<<) are not supported; write the keys out",
                        null);
            }
            String keyPath = child(path, ks.getValue());
            if (!keys.add(ks.getValue())) {
                throw new Failure(line(k), keyPath, "appears twice (each key may appear once)", null);
            }
            checkTree(t.getValueNode(), keyPath, seen);
        }
    }

    /**
     * The key path of a key under {@code path}: {@code path.key}, or {@code path[key]} when the key
     * is not a plain identifier (file names, token texts).
     *
     * @param path the parent's path, {@code ""} at the top level
     * @param key the key text
     * @return the child's path
     */
    public static String child(String path, String key) {
        String k = IDENTIFIER.matcher(key).matches() ? key : "[" + clip(key) + "]";
        if (path.isEmpty()) {
            return k;
        }
        return k.startsWith("[") ? path + k : path + "." + k;
    }

    private static Node composeOnly(String text, Limits limits) throws Failure {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false); // acts only when constructing: entries() checks keys
        options.setMaxAliasesForCollections(limits.maxAliases());
        options.setNestingDepthLimit(limits.maxNesting());
        options.setCodePointLimit(limits.maxCodePoints());
        options.setAllowRecursiveKeys(false);
        options.setMergeOnCompose(false);
        options.setProcessComments(false);
        MarkTrackingParser parser = new MarkTrackingParser(new ParserImpl(new StreamReader(text), options));
        try {
            return new Composer(parser, new Resolver(), options).getSingleNode();
        } catch (MarkedYAMLException e) {
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String problem = e.getProblem() != null ? e.getProblem() : e.getMessage();
            if (e.getContext() != null && e.getProblem() != null) { // "while parsing X" + "expected Y"
                problem = e.getContext() + (problem.startsWith("but ") ? " " : ": ") + problem;
            }
            throw new Failure(line(mark), null, "invalid YAML: " + oneLine(problem), e);
        } catch (YAMLException e) {
            // The alias, nesting and size limits throw without a position: report the last event read.
            throw new Failure(line(parser.lastMark), null, "invalid YAML: " + oneLine(e.getMessage())
                    + hint(e.getMessage(), limits), e);
        }
    }

    /**
     * Why a node's tag is not accepted, or null when it is one of the types YAML resolves plain
     * scalars to (str, int, float, bool, null, timestamp: the readers refuse the wrong type by key)
     * or the standard map and seq tags on collections.
     *
     * @param node any node
     * @return the problem, or null
     */
    public static String unsupportedTag(Node node) {
        Tag tag = node.getTag();
        boolean ok = node instanceof ScalarNode
                ? Tag.STR.equals(tag) || Tag.INT.equals(tag) || Tag.FLOAT.equals(tag) || Tag.BOOL.equals(tag)
                        || Tag.NULL.equals(tag) || Tag.TIMESTAMP.equals(tag)
                : node instanceof MappingNode ? Tag.MAP.equals(tag) : node instanceof SequenceNode && Tag.SEQ.equals(tag);
        return ok ? null : "has the unsupported tag " + tag.getValue() + " (tags are not allowed)";
    }

    /**
     * @param node any node
     * @return whether it is the null scalar ({@code null}, {@code ~} or nothing)
     */
    public static boolean isNull(Node node) {
        return node instanceof ScalarNode && Tag.NULL.equals(node.getTag());
    }

    /**
     * A node for messages: "a mapping", "a list", "null", a quoted string or a bare value.
     *
     * @param node any node
     * @return the description, clipped to 80 characters
     */
    public static String describe(Node node) {
        if (node instanceof MappingNode) {
            return "a mapping";
        }
        if (node instanceof SequenceNode) {
            return "a list";
        }
        if (isNull(node)) {
            return "null";
        }
        String text = clip(((ScalarNode) node).getValue());
        return Tag.STR.equals(node.getTag()) ? "'" + text + "'" : text;
    }

    /**
     * @param s any text
     * @return the text on one line ({@code \n} escaped), at most 80 characters
     */
    public static String clip(String s) {
        String one = s.replace("\n", "\\n").replace("\r", "\\r");
        return one.length() <= 80 ? one : one.substring(0, 77) + "...";
    }

    /**
     * @param node any node, or null
     * @return its 1-based line, 0 when unknown
     */
    public static int line(Node node) {
        return node == null ? 0 : line(node.getStartMark());
    }

    private static int line(Mark mark) {
        return mark == null ? 0 : mark.getLine() + 1;
    }

    /**
     * @param s a parser message
     * @return it on one line
     */
    public static String oneLine(String s) {
        return s == null ? "unknown YAML error" : dev.skipper.api.SkipperException.oneLine(s);
    }

    private static String hint(String message, Limits limits) {
        if (message != null && message.contains("aliases")) {
            return " (anchors and aliases to mappings or lists are limited to " + limits.maxAliases() + ")";
        }
        return "";
    }

    /** Delegates to SnakeYAML's parser, remembering where the last event it handed out started. */
    private static final class MarkTrackingParser implements Parser {
        private final Parser delegate;
        Mark lastMark;

        MarkTrackingParser(Parser delegate) {
            this.delegate = delegate;
        }

        @Override
        public boolean checkEvent(Event.ID choice) {
            return delegate.checkEvent(choice);
        }

        @Override
        public Event peekEvent() {
            return delegate.peekEvent();
        }

        @Override
        public Event getEvent() {
            Event event = delegate.getEvent();
            lastMark = event.getStartMark();
            return event;
        }
    }
}
