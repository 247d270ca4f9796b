package dev.skipper.bundle;

import dev.skipper.api.BundleFormatException;
import dev.skipper.bundle.BundleManifest.Dim;
import dev.skipper.bundle.BundleManifest.ModelDims;
import dev.skipper.bundle.yaml.HardenedYaml;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * Typed reads of one manifest's node tree (already checked by {@link HardenedYaml}): each value
 * read fails with a {@link BundleFormatException} naming the manifest, the node's line and the key
 * path. The section walk ({@link BundleManifestReader}) builds on these.
 */
abstract class ManifestNodes {
    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** The manifest file, for messages. */
    final Path manifest;
    private final ScalarValues constructor = new ScalarValues();

    /** @param manifest the manifest file, for messages */
    ManifestNodes(Path manifest) {
        this.manifest = manifest;
    }

    /**
     * Plain Java values of scalar nodes with the standard tags (str, int, float, bool, null): SnakeYAML's
     * safe constructor, applied to one scalar at a time and never to the document.
     */
    private static final class ScalarValues extends SafeConstructor {
        ScalarValues() {
            super(new LoaderOptions());
        }

        Object scalar(ScalarNode node) {
            return constructObject(node);
        }
    }

    String listedFile(Node node, String key, Map<String, Path> listed) throws BundleFormatException {
        String file = nonEmptyString(node, key);
        checkRelativePath(node, key, file);
        if (!listed.containsKey(file)) {
            throw fail(node, key, "'" + HardenedYaml.clip(file) + "' is not listed in files");
        }
        return file;
    }

    void checkRelativePath(Node at, String key, String rel) throws BundleFormatException {
        String why = BundleFiles.relativePathProblem(rel);
        if (why != null) {
            throw fail(at, key, "must be a relative path inside the bundle, got '" + HardenedYaml.clip(rel) + "' ("
                    + why + ")");
        }
    }

    String sha256(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "a SHA-256 (64 lowercase hex digits)");
        if (!(v instanceof String s) || !BundleFiles.isSha256(s)) {
            throw fail(node, key, "must be a SHA-256 (64 lowercase hex digits), got " + HardenedYaml.describe(node));
        }
        return s;
    }

    List<Dim> dims(Node node, String key) throws BundleFormatException {
        SequenceNode seq = list(node, key);
        List<Dim> dims = new ArrayList<>();
        for (int i = 0; i < seq.getValue().size(); i++) {
            Node d = seq.getValue().get(i);
            String dk = key + "[" + i + "]";
            Object v = scalar(d, dk, "a positive integer or a dimension name");
            if (v instanceof Integer n && n > 0) {
                dims.add(Dim.of(n));
            } else if (v instanceof String name && IDENTIFIER.matcher(name).matches()) {
                dims.add(Dim.of(name));
            } else {
                throw fail(d, dk, "must be a positive integer or a dimension name such as seq, got " + HardenedYaml.describe(d));
            }
        }
        return dims;
    }

    Integer optionalTokenId(Node node, String key, ModelDims model) throws BundleFormatException {
        return HardenedYaml.isNull(node) ? null : tokenId(node, key, model);
    }

    int tokenId(Node node, String key, ModelDims model) throws BundleFormatException {
        Object v = scalar(node, key, "a token id");
        if (!(v instanceof Integer id) || id < 0 || id >= model.vocabSize()) {
            throw fail(node, key, "must be a token id in [0, " + model.vocabSize()
                    + ") (model.vocab_size), got " + HardenedYaml.describe(node));
        }
        return id;
    }

    int positiveInt(Section s, String key) throws BundleFormatException {
        return positiveInt(s.required(key), s.child(key));
    }

    int positiveInt(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "a positive integer");
        if (!(v instanceof Integer i) || i <= 0) {
            throw fail(node, key, "must be a positive integer, got " + HardenedYaml.describe(node));
        }
        return i;
    }

    int nonNegativeInt(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "an integer >= 0");
        if (!(v instanceof Integer i) || i < 0) {
            throw fail(node, key, "must be an integer >= 0, got " + HardenedYaml.describe(node));
        }
        return i;
    }

    long nonNegativeLong(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "an integer >= 0");
        if (!(v instanceof Integer || v instanceof Long) || ((Number) v).longValue() < 0) {
            throw fail(node, key, "must be an integer >= 0, got " + HardenedYaml.describe(node));
        }
        return ((Number) v).longValue();
    }

    double positiveNumber(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "a positive number");
        double d = v instanceof Integer || v instanceof Long || v instanceof Double ? ((Number) v).doubleValue()
                : Double.NaN;
        if (!(d > 0) || Double.isInfinite(d)) {
            throw fail(node, key, "must be a positive number, got " + HardenedYaml.describe(node));
        }
        return d;
    }

    boolean bool(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "true or false");
        if (!(v instanceof Boolean b)) {
            throw fail(node, key, "must be true or false, got " + HardenedYaml.describe(node));
        }
        return b;
    }

    String string(Node node, String key) throws BundleFormatException {
        Object v = scalar(node, key, "a string");
        if (!(v instanceof String s)) {
            throw fail(node, key, "must be a string, got " + HardenedYaml.describe(node));
        }
        return s;
    }

    String nonEmptyString(Node node, String key) throws BundleFormatException {
        String s = string(node, key);
        if (s.isBlank()) {
            throw fail(node, key, "must not be empty");
        }
        return s;
    }

    <E> E choice(Node node, String key, E[] options, Function<E, String> spelling)
            throws BundleFormatException {
        List<String> names = new ArrayList<>();
        for (E o : options) {
            names.add(spelling.apply(o));
        }
        String what = "one of " + String.join(", ", names);
        Object v = scalar(node, key, what);
        if (v instanceof String s) {
            for (E o : options) {
                if (spelling.apply(o).equals(s)) {
                    return o;
                }
            }
        }
        throw fail(node, key, "must be " + (names.size() == 1 ? "'" + names.get(0) + "'" : what)
                + ", got " + HardenedYaml.describe(node));
    }

    SequenceNode list(Node node, String key) throws BundleFormatException {
        if (!(node instanceof SequenceNode seq)) {
            throw fail(node, key, "must be a list, got " + HardenedYaml.describe(node));
        }
        return seq;
    }

    /** The plain Java value of a scalar node (Integer, Long, BigInteger, Double, Boolean, String or null). */
    Object scalar(Node node, String key, String expected) throws BundleFormatException {
        if (!(node instanceof ScalarNode scalar)) {
            throw fail(node, key, "must be " + expected + ", got " + HardenedYaml.describe(node));
        }
        try {
            return constructor.scalar(scalar);
        } catch (YAMLException e) {
            throw fail(node, key, "has an invalid value " + HardenedYaml.describe(node) + ": " + HardenedYaml.oneLine(e.getMessage()));
        }
    }

    Section section(Node node, String path) throws BundleFormatException {
        if (!(node instanceof MappingNode mapping)) {
            throw fail(node, path.isEmpty() ? null : path,
                    (path.isEmpty() ? "the top level must be a mapping of keys" : "must be a mapping")
                            + ", got " + HardenedYaml.describe(node));
        }
        return new Section(path, mapping);
    }

    BundleFormatException fail(Node at, String key, String problem) {
        int line = at == null || at.getStartMark() == null ? 0 : at.getStartMark().getLine() + 1;
        return new BundleFormatException(manifest, line, key, problem);
    }

    /** A YAML mapping at a key path, its keys as strings. */
    final class Section {
        final String path;
        final MappingNode node;
        final Map<String, NodeTuple> entries = new LinkedHashMap<>();

        Section(String path, MappingNode node) {
            this.path = path;
            this.node = node;
            for (NodeTuple t : node.getValue()) { // keys: plain scalars, each once (HardenedYaml)
                entries.put(((ScalarNode) t.getKeyNode()).getValue(), t);
            }
        }

        String child(String key) {
            return HardenedYaml.child(path, key);
        }

        Node required(String key) throws BundleFormatException {
            NodeTuple t = entries.get(key);
            if (t == null) {
                throw fail(node, child(key), "is missing");
            }
            return t.getValueNode();
        }

        Node optional(String key) {
            NodeTuple t = entries.get(key);
            return t == null ? null : t.getValueNode();
        }
    }
}
