package dev.skipper.examples;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.api.SkipperException;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Structured command extraction, the way a robot turns a spoken or typed instruction into
 * something its planner can execute: "go to the charging dock" becomes
 * {@code {"action": "go_to", "target": "charging dock"}}. The answer is constrained to a JSON
 * Schema while it is generated (only tokens that keep it valid are ever chosen), so it always
 * parses; the program still validates it, as a planner must before it moves anything.
 *
 * <p>Usage: {@code RobotCommands DEPLOYMENT.yaml|BUNDLE [INSTRUCTION...]}; without instructions,
 * one per line from stdin. Prints one JSON line per instruction:
 * {@code {"instruction", "command", "tokens", "ms"}}, or {@code {"instruction", "error"}}.
 */
public final class RobotCommands {
    /** The actions the robot can carry out. */
    static final List<String> ACTIONS = List.of("go_to", "pick_up", "put_down", "follow", "stop", "dock");

    /** What the model may answer: one action and a short target (empty for stop and dock). */
    static final String SCHEMA = """
            {"type": "object",
             "properties": {
               "action": {"enum": %s},
               "target": {"type": "string", "maxLength": 40}},
             "required": ["action", "target"],
             "additionalProperties": false}
            """.formatted(ACTIONS.stream().map(a -> "\"" + a + "\"").toList());

    static final String SYSTEM = "You control a mobile robot with an arm. Turn the user's instruction into a "
            + "command: action is one of " + String.join(", ", ACTIONS) + "; target is the place, object or person "
            + "it applies to, in a few words (empty for stop and dock). Answer with the JSON command only.";

    /** Worked examples before each instruction (the prefix is the same every time: its KV is reused). */
    static final List<ChatMessage> EXAMPLES = List.of(
            ChatMessage.user("please head over to the kitchen"),
            new ChatMessage("assistant", "{\"action\": \"go_to\", \"target\": \"kitchen\"}"),
            ChatMessage.user("grab the blue bottle on the desk"),
            new ChatMessage("assistant", "{\"action\": \"pick_up\", \"target\": \"blue bottle\"}"),
            ChatMessage.user("you can go and charge now"),
            new ChatMessage("assistant", "{\"action\": \"dock\", \"target\": \"\"}"));

    private RobotCommands() {}

    /**
     * @param args a deployment file (*.yaml) or a bundle directory, then instructions
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args[0].startsWith("-")) {
            System.err.println("usage: RobotCommands DEPLOYMENT.yaml|BUNDLE [INSTRUCTION...]");
            System.exit(2);
        }
        Path target = Path.of(args[0]);
        DeploymentConfig config = target.toString().endsWith(".yaml")
                ? DeploymentConfigLoader.load(target) : DeploymentConfig.defaults(target);
        // greedy: the same instruction always gives the same command
        GenerationOptions options = GenerationOptions.greedy(96).withJsonSchema(SCHEMA);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        int invalid = 0;
        try (Engine engine = Skipper.open(config); Session session = engine.newSession()) {
            if (args.length > 1) {
                for (String instruction : Arrays.asList(args).subList(1, args.length)) {
                    invalid += command(session, options, instruction, out);
                }
            } else { // one per line from stdin, answered as it comes
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.isBlank()) {
                        invalid += command(session, options, line.strip(), out);
                    }
                }
            }
        }
        System.exit(invalid == 0 ? 0 : 1);
    }

    /** One instruction's command line; 1 when it failed or is invalid, else 0. */
    private static int command(Session session, GenerationOptions options, String instruction, PrintStream out) {
        long t0 = System.nanoTime();
        JsonObject line = new JsonObject();
        line.addProperty("instruction", instruction);
        int bad = 0;
        try {
            // a whole conversation per instruction: the system turn and the examples are the
            // cached prefix, only the instruction and the answer are computed
            List<ChatMessage> conversation = new ArrayList<>();
            conversation.add(ChatMessage.system(SYSTEM));
            conversation.addAll(EXAMPLES);
            conversation.add(ChatMessage.user(instruction));
            GenerationResult r = session.reply(conversation, options, null);
            try {
                line.add("command", validate(r.text()));
            } catch (IllegalArgumentException e) {
                bad = 1;
                line.addProperty("error", e.getMessage() + " (finish: " + r.finishReason() + ")");
            }
            line.addProperty("tokens", r.stats().generatedTokens());
        } catch (SkipperException e) { // e.g. an instruction longer than the context: the next one still runs
            bad = 1;
            line.addProperty("error", SkipperException.oneLine(String.valueOf(e.getMessage())));
        }
        line.addProperty("ms", (System.nanoTime() - t0) / 1_000_000);
        out.println(line);
        return bad;
    }

    /**
     * What a planner checks before acting on a command.
     *
     * @param text the model's answer
     * @return the command
     * @throws IllegalArgumentException naming what is wrong
     */
    static JsonObject validate(String text) {
        JsonObject o;
        try {
            o = JsonParser.parseString(text).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IllegalArgumentException("not a JSON object: " + text);
        }
        if (!o.keySet().equals(Set.of("action", "target"))) {
            throw new IllegalArgumentException("expected the fields action and target, got " + o.keySet());
        }
        if (!o.get("action").isJsonPrimitive() || !ACTIONS.contains(o.get("action").getAsString())) {
            throw new IllegalArgumentException("action " + o.get("action") + " is not one of " + ACTIONS);
        }
        if (!o.get("target").isJsonPrimitive() || !o.get("target").getAsJsonPrimitive().isString()
                || o.get("target").getAsString().length() > 40) {
            throw new IllegalArgumentException("target must be a string of at most 40 characters");
        }
        return o;
    }
}
