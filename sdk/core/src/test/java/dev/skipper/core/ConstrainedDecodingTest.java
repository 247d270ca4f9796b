package dev.skipper.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.FinishReason;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.InvalidSchemaException;
import dev.skipper.api.ResponseFormat;
import dev.skipper.api.SamplingOptions;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.config.SpeculationConfig;
import dev.skipper.core.constrained.ByteDfa;
import dev.skipper.core.constrained.JsonSchemaCompiler;
import dev.skipper.runtime.spi.BackendOptions;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Structured output end to end on tiny models: the text matches its schema's automaton and ends
 * when the document is complete, and every speculation mode (fixed drafting, so rounds run and
 * reject at many positions) gives exactly the tokens constrained plain decoding gives.
 */
class ConstrainedDecodingTest {
    static final String[] SCHEMAS = {
        "{\"type\":\"object\",\"properties\":{\"action\":{\"enum\":[\"go\",\"stop\",\"dock\"]},"
            + "\"target\":{\"type\":\"string\",\"maxLength\":10},\"speed\":{\"type\":\"number\"}},"
            + "\"required\":[\"action\",\"target\"],\"additionalProperties\":false}",
        "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":5}",
        "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},\"why\":{\"anyOf\":[{\"type\":\"null\"},"
            + "{\"type\":\"string\",\"maxLength\":6}]}},\"required\":[\"ok\",\"why\"]}",
    };
    private static final SpeculationMode[] MODES = {SpeculationMode.NGRAM, SpeculationMode.EARLY_EXIT,
        SpeculationMode.LAYER_SKIP, SpeculationMode.AUTO};

    static GenerationResult run(DefaultEngine engine, String schema, SpeculationMode mode, String prompt)
            throws Exception {
        GenerationOptions o = new GenerationOptions(200, SamplingOptions.GREEDY, List.of(), true)
                .withSpeculation(mode).withJsonSchema(schema);
        try (DefaultSession s = engine.newSession()) {
            return s.reply(List.of(ChatMessage.user(prompt)), o, null);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32", "tiny-spm-int4", "tiny-spm-int4-int8"})
    void outputMatchesTheSchemaAndSpeculationChangesNoToken(String name) throws Exception {
        int layers = EngineTestData.engine(name).manifest().model().numLayers();
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.AUTO, Math.max(1, layers / 2), 4, 0.0,
                List.of(layers - 1), 3, true).fixed();
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            for (String schema : SCHEMAS) {
                ByteDfa dfa = JsonSchemaCompiler.compile(JsonParser.parseString(schema));
                for (String prompt : List.of("Give the command as JSON.", "{\"action\": \"go\", \"target\": \"dock\"} again")) {
                    GenerationResult plain = run(engine, schema, SpeculationMode.OFF, prompt);
                    assertTrue(plain.finishReason() == FinishReason.EOS, name + ": " + plain);
                    assertTrue(dfa.matches(plain.text().getBytes(StandardCharsets.UTF_8)),
                            name + " schema " + schema + ": " + plain.text());
                    JsonParser.parseString(plain.text()); // and it is JSON
                    for (SpeculationMode mode : MODES) {
                        GenerationResult r = run(engine, schema, mode, prompt);
                        assertArrayEquals(plain.tokenIds(), r.tokenIds(), name + " " + mode.yamlName() + " " + schema);
                        assertEquals(plain.text(), r.text());
                        if (mode == SpeculationMode.EARLY_EXIT && plain.tokenIds().length > 2) {
                            assertTrue(r.stats().speculation().rounds() > 0, "rounds ran under the grammar: "
                                    + r.stats().speculation());
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32", "tiny-spm-int4"})
    void jsonObjectModeGivesAJsonObjectAndSpeculationChangesNoToken(String name) throws Exception {
        int layers = EngineTestData.engine(name).manifest().model().numLayers();
        SpeculationConfig spec = new SpeculationConfig(SpeculationMode.AUTO, Math.max(1, layers / 2), 4, 0.0,
                List.of(layers - 1), 3, true).fixed();
        try (DefaultEngine engine = Skipper.open(EngineTestData.bundle(name), BackendOptions.DEFAULTS,
                List.of("cpu"), EngineTestData.CONTEXT, spec)) {
            for (String prompt : List.of("Describe the robot as JSON.", "{\"a\": {\"b\": [{\"c\": [1]}]}}")) {
                GenerationOptions o = new GenerationOptions(160, SamplingOptions.GREEDY, List.of(), true)
                        .withFormat(ResponseFormat.jsonObject());
                GenerationResult plain;
                try (DefaultSession s = engine.newSession()) {
                    plain = s.reply(List.of(ChatMessage.user(prompt)), o, null);
                }
                byte[] text = plain.text().getBytes(StandardCharsets.UTF_8);
                if (plain.finishReason() == FinishReason.EOS) {
                    assertTrue(dev.skipper.core.constrained.JsonPushdown.OBJECT.matches(text), plain.text());
                    assertTrue(JsonParser.parseString(plain.text()).isJsonObject(), plain.text());
                } else { // out of tokens: still a prefix of an object
                    long c = dev.skipper.core.constrained.JsonPushdown.OBJECT.walk(
                            dev.skipper.core.constrained.JsonPushdown.OBJECT.start(), text);
                    assertTrue(c != dev.skipper.core.constrained.ByteAutomaton.DEAD, plain.text());
                }
                assertTrue(plain.text().startsWith("{"), plain.text());
                for (SpeculationMode mode : MODES) {
                    try (DefaultSession s = engine.newSession()) {
                        GenerationResult r = s.reply(List.of(ChatMessage.user(prompt)), o.withSpeculation(mode), null);
                        assertArrayEquals(plain.tokenIds(), r.tokenIds(), name + " " + mode.yamlName());
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32"})
    void anUnsupportedSchemaFailsBeforeAnyWork(String name) throws Exception {
        DefaultEngine engine = EngineTestData.engine(name);
        try (DefaultSession s = engine.newSession()) {
            InvalidSchemaException e = assertThrows(InvalidSchemaException.class, () -> s.reply(
                    List.of(ChatMessage.user("x")), GenerationOptions.greedy(4).withJsonSchema(
                            "{\"type\":\"string\",\"format\":\"uri\"}"), null));
            assertTrue(e.getMessage().contains("format"), e.getMessage());
            assertEquals(0, s.length(), "nothing ran");
            GenerationResult ok = s.reply(List.of(ChatMessage.user("x")),
                    GenerationOptions.greedy(300).withFormat(ResponseFormat.jsonObject()), null);
            assertTrue(ok.text().startsWith("{"), ok.text());
        }
    }
}
