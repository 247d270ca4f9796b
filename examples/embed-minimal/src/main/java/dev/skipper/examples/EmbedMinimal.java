package dev.skipper.examples;

import dev.skipper.api.Engine;
import dev.skipper.api.GenerationOptions;
import dev.skipper.api.GenerationResult;
import dev.skipper.api.Session;
import dev.skipper.core.Skipper;
import dev.skipper.core.config.DeploymentConfig;
import java.nio.file.Path;

/** Opens a bundle, generates a continuation of a prompt greedily, prints it. */
public final class EmbedMinimal {
    private EmbedMinimal() {}

    /**
     * @param args the bundle directory, then optionally the prompt
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        Path bundle = Path.of(args.length > 0 ? args[0] : "build/bundles/smollm2-135m-int4-ort");
        String prompt = args.length > 1 ? args[1] : "The capital of France is";
        // Every setting at its default: the best backend available, the model's full context.
        try (Engine engine = Skipper.open(DeploymentConfig.defaults(bundle));
             Session session = engine.newSession()) {
            GenerationResult result = session.generate(prompt, GenerationOptions.greedy(32), null);
            System.out.println(prompt + result.text());
            System.out.println(result.stats());
        }
    }
}
