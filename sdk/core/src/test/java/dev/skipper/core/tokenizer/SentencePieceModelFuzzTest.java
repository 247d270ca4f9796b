package dev.skipper.core.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.skipper.api.SkipperException;
import java.nio.file.Path;

/**
 * Fuzzes the SentencePiece model reader ({@link SentencePieceModel#parse}) and, for every model it
 * accepts, the decoder over a few ids: any bytes either give a model that decodes without throwing
 * or a {@link SkipperException} in one line. Anything else is a finding.
 *
 * <p>Seeds ({@code SentencePieceModelFuzzTestInputs/}): the three tiny models of the decoder's tests.
 */
class SentencePieceModelFuzzTest {
    private static final Path FILE = Path.of("fuzzed.model");

    @FuzzTest(maxDuration = "30s")
    void readerAcceptsOrRefusesInOneLine(byte[] data) {
        SentencePieceModel model;
        try {
            model = SentencePieceModel.parse(data, FILE);
        } catch (SkipperException e) {
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.indexOf('\n') >= 0) {
                throw new AssertionError("a refusal must be one line, got: " + m);
            }
            return;
        }
        int n = model.size();
        if (n == 0) {
            return;
        }
        int[] ids = new int[Math.min(n, 64)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 7919) % n; // spread over the vocabulary, byte pieces and controls included
        }
        model.decode(ids, 0, ids.length, id -> false);
    }
}
