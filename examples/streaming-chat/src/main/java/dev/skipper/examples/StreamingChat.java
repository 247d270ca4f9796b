package dev.skipper.examples;

import dev.skipper.api.ChatMessage;
import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.Session;
import dev.skipper.api.SpeculationMode;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import dev.skipper.core.config.DeploymentConfigLoader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A console chat: each line is a user turn, the reply streams back token by token, and the session
 * keeps the conversation (and its KV cache) between turns. An empty line ends the program.
 */
public final class StreamingChat {
    private StreamingChat() {}

    /**
     * @param args a deployment file (*.yaml) or a bundle directory; optionally a system prompt
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        Path target = Path.of(args.length > 0 ? args[0] : "configs/smollm2-135m-cpu.yaml");
        DeploymentConfig config = target.toString().endsWith(".yaml")
                ? DeploymentConfigLoader.load(target) : DeploymentConfig.defaults(target);
        // The file's generation settings (max tokens, sampling, stop strings) for every reply, with
        // self-speculative decoding: the same replies, drafted by prompt lookup where they quote the
        // conversation and checked by the full model in one batched pass.
        GenerationOptions options = config.generation().toOptions().withSpeculation(SpeculationMode.AUTO);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

        try (Engine engine = Skipper.open(config); Session session = engine.newSession()) {
            boolean first = true;
            while (true) {
                out.print("you> ");
                String line = in.readLine();
                if (line == null || line.isBlank()) {
                    break;
                }
                List<ChatMessage> turns = new ArrayList<>();
                if (first && args.length > 1) {
                    turns.add(ChatMessage.system(args[1]));
                }
                turns.add(ChatMessage.user(line)); // only the new turn: the session remembers the rest
                first = false;
                out.print("bot> ");
                var reply = session.chat(turns, options, (text, tokenId) -> out.print(text));
                var spec = reply.stats().speculation();
                out.printf("%n(%d tokens, %.1f tok/s, %d of %d drafts accepted, %s)%n", reply.stats().generatedTokens(),
                        reply.stats().decodeTokensPerSecond(), spec.accepted(), spec.drafted(), reply.finishReason());
            }
        }
    }
}
