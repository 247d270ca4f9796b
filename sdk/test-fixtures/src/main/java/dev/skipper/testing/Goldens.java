package dev.skipper.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A case's reference outputs ({@code goldens.json}, written by the exporter from its independent
 * numpy reference).
 *
 * @param vocabSize the model's vocabulary
 * @param eosIds end-of-sequence ids
 * @param prompts chat-formatted prompts with their ids and the reference's greedy continuation
 * @param tokenizer edge-case texts (empty, accents, CJK, emoji, whitespace, code, ChatML) and their ids
 * @param teacherIds a long real text's ids
 * @param teacherArgmax the reference's top-1 after each of them
 * @param nearTies teacher-forced positions whose float64 top-2 margin is within the float32 tie
 *     bound ({@code exporters/skipper_export/verify/yardstick.py}), where a correct float32 runtime
 *     may pick the runner-up
 */
public record Goldens(int vocabSize, int[] eosIds, List<Prompt> prompts, List<Encoded> tokenizer, int[] teacherIds,
        int[] teacherArgmax, Set<Integer> nearTies) {

    /**
     * A text and the ids the exporter's tokenizer gave it.
     *
     * @param text the text
     * @param ids its ids
     */
    public record Encoded(String text, int[] ids) {
    }

    /**
     * One golden prompt.
     *
     * @param text raw chat-formatted text
     * @param ids its ids
     * @param greedy the reference's greedy continuation
     */
    public record Prompt(String text, int[] ids, int[] greedy) {
    }

    /**
     * Reads a goldens file.
     *
     * @param file {@code goldens.json}
     * @return its contents
     */
    public static Goldens read(Path file) {
        JsonObject json;
        try {
            json = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Prompt> prompts = new ArrayList<>();
        for (JsonElement p : json.getAsJsonArray("prompts")) {
            JsonObject o = p.getAsJsonObject();
            prompts.add(new Prompt(o.get("text").getAsString(), ints(o.getAsJsonArray("ids")),
                    ints(o.getAsJsonArray("greedy"))));
        }
        List<Encoded> tokenizer = new ArrayList<>();
        for (JsonElement e : json.getAsJsonArray("tokenizer")) {
            JsonObject o = e.getAsJsonObject();
            tokenizer.add(new Encoded(o.get("text").getAsString(), ints(o.getAsJsonArray("ids"))));
        }
        JsonObject tf = json.getAsJsonObject("teacher_forced");
        return new Goldens(json.get("vocab_size").getAsInt(), ints(json.getAsJsonArray("eos_ids")), List.copyOf(prompts),
                List.copyOf(tokenizer), ints(tf.getAsJsonArray("ids")), ints(tf.getAsJsonArray("argmax")),
                Arrays.stream(ints(tf.getAsJsonArray("near_ties"))).boxed().collect(Collectors.toUnmodifiableSet()));
    }

    /** @return each prompt's ids and text as an {@link Encoded} */
    public List<Encoded> promptsEncoded() {
        return prompts.stream().map(p -> new Encoded(p.text(), p.ids())).toList();
    }

    private static int[] ints(JsonArray array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).getAsInt();
        }
        return out;
    }
}
