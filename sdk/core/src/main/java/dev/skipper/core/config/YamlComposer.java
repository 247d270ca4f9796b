package dev.skipper.core.config;

import java.nio.file.Path;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.composer.Composer;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.parser.Parser;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * Parses YAML text into SnakeYAML's node tree and stops there: no constructor runs, so no tag can
 * make SnakeYAML build an object (stricter than its {@code SafeConstructor}, which still builds
 * maps, dates and byte arrays). The schema walk reads scalars' text itself.
 *
 * <p>Limits guard against hostile files: at most {@value #MAX_ALIASES} aliases to collections
 * ("billion laughs"), collections nested at most {@value #MAX_NESTING} deep, at most
 * {@value #MAX_CODE_POINTS} code points, one document. Duplicate keys are not detected here: the
 * composer does not check them ({@code allowDuplicateKeys=false} only acts while constructing), so
 * {@link NodeReader} rejects them. It is set anyway so the options say what we mean.
 */
final class YamlComposer {
    /** Most code points a deployment file may have (deployment files are a few KB). */
    static final int MAX_CODE_POINTS = 256 * 1024;
    /** Most aliases (to mappings or lists) a file may use. */
    static final int MAX_ALIASES = 8;
    /** Deepest nesting of mappings and lists; the schema itself needs 3. */
    static final int MAX_NESTING = 8;

    private YamlComposer() {
    }

    /**
     * Composes one document.
     *
     * @param text the file's text
     * @param file the file, for messages
     * @return the root node, or {@code null} for an empty document (only comments or nothing)
     * @throws ConfigException when the text is not valid YAML or breaks a limit
     */
    static Node compose(String text, Path file) throws ConfigException {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        options.setMaxAliasesForCollections(MAX_ALIASES);
        options.setNestingDepthLimit(MAX_NESTING);
        options.setCodePointLimit(MAX_CODE_POINTS);
        options.setAllowRecursiveKeys(false);
        options.setMergeOnCompose(false); // "<<" stays an ordinary (and therefore unknown) key
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
            throw new ConfigException(file, line(mark), null, "invalid YAML: " + oneLine(problem), e);
        } catch (YAMLException e) {
            // The alias and nesting limits throw without a position: report the last event read.
            throw new ConfigException(file, line(parser.lastMark), null, "invalid YAML: " + oneLine(e.getMessage())
                    + hint(e.getMessage()), e);
        }
    }

    private static String hint(String message) {
        if (message != null && message.contains("aliases")) {
            return " (anchors and aliases to mappings or lists are limited to " + MAX_ALIASES + ")";
        }
        if (message != null && message.contains("Nesting")) {
            return " (a deployment file needs at most 3 levels)";
        }
        return "";
    }

    private static int line(Mark mark) {
        return mark == null ? 0 : mark.getLine() + 1;
    }

    static String oneLine(String s) {
        return s == null ? "unknown YAML error" : s.strip().replaceAll("\\s*\\R\\s*", " ");
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
