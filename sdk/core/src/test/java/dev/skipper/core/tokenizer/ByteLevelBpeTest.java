package dev.skipper.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Random;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java byte-level BPE encoder gives the native Hugging Face tokenizer's ids, and decodes to its
 * text, on real text none of us wrote (the JDK's legal notices, Debian's licence texts, Python's
 * pydoc topics when the exporter's Python is known) cut into lines and paragraphs, and on edge cases:
 * digits, numbers of other scripts, emoji, CJK, whitespace runs, contractions, special tokens
 * inside the text and a chat-formatted prompt. The byte-level bundles load it by default.
 */
class ByteLevelBpeTest {
    private static final String[] EDGES = {
        "", " ", "  ", "\n", "\n\n\n", " \t \n x", "hello", " hello", "hello  world", "trailing   ",
        "I'm can't we'll they've she'd it's O'Neil 'quoted'", "2024-12-03 10:45:00, 3.14159, 1e-9, x2y3",
        "\u0663\u0664 \u2167 \u00bd \u00b2 \u2460", "caf\u00e9 na\u00efve \u00fcber", "\u4e2d\u6587\u6d4b\u8bd5\uff0c\u597d\u7684\u3002",
        "emoji \ud83d\ude00\ud83d\udc4d\ud83c\udffd family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67", "tab\tsep\tvalues",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b<|endoftext|><|endoftext|>",
        "<|im_start|", "<<|im_end|>>", "x = [i ** 2 for i in range(10)]  # squares\n\tif x:\n\t\treturn None",
        "\u00a0non\u00a0breaking\u2003em\u3000ideographic", "\r\nwindows\r\n", "\u0085next-line",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".repeat(5),
        // Bytes SmolLM2's vocabulary has no symbol for (controls, the lead byte of planes 4-11): dropped.
        "a\u0004b\u0006c\u0013\u0014\u0016\u001d d", "plane 4: \ud8c0\udc00 plane 9: \ud9c0\udc00!",
    };

    @ParameterizedTest
    @ValueSource(strings = {"tiny-bpe-fp32", "smollm2-fp32"})
    void javaEncodingEqualsTheNativeTokenizerOnRealText(String name) throws Exception {
        Path file = TokenizerTestData.caseDir(name).resolve("bundle/tokenizer.json");
        var spec = TokenizerTestData.manifest(name).tokenizer();
        HfTokenizer java = HfTokenizer.open(file, spec);
        HfTokenizer nat;
        System.setProperty(HfTokenizer.NATIVE_PROPERTY, "true");
        try {
            nat = HfTokenizer.open(file, spec);
        } finally {
            System.clearProperty(HfTokenizer.NATIVE_PROPERTY);
        }
        try (java; nat) {
            assertTrue(java.toString().contains("java"), java.toString());
            assertTrue(nat.toString().contains("native"), nat.toString());
            List<String> texts = new ArrayList<>(List.of(EDGES));
            texts.addAll(realText());
            texts.addAll(randomText(new Random(3), 1500));
            // A word of 60,000 characters without a space (a base64 blob): merged in n log n steps.
            byte[] blob = new byte[45_000];
            new Random(9).nextBytes(blob);
            texts.add(Base64.getEncoder().encodeToString(blob).replace("+", "x").replace("/", "y"));
            long tokens = 0;
            for (String t : texts) {
                int[] want = nat.encode(t);
                int[] got = java.encode(t);
                assertArrayEquals(want, got, name + ": " + clip(t));
                assertEquals(nat.decode(want), java.decode(want), name + " decode: " + clip(t));
                tokens += want.length;
            }
            System.out.printf("%s: %d texts, %d tokens identical%n", name, texts.size(), tokens);
            assertTrue(tokens > 20_000, "too little text compared: " + tokens + " tokens");
            int[] odd = {5, 999_999, 0, 1, 2, 7};
            assertEquals(nat.decode(odd), java.decode(odd), "unknown and special ids are dropped alike");
        }
    }

    /** Paragraphs of licence and documentation text shipped with the JDK, Debian and Python. */
    static List<String> realText() throws IOException {
        List<Path> files = new ArrayList<>();
        Path legal = Path.of(System.getProperty("java.home"), "legal");
        if (Files.isDirectory(legal)) {
            try (Stream<Path> s = Files.walk(legal)) {
                s.filter(Files::isRegularFile).sorted().limit(40).forEach(files::add);
            }
        }
        for (String f : new String[] {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Artistic"}) {
            if (Files.isRegularFile(Path.of(f))) {
                files.add(Path.of(f));
            }
        }
        String python = System.getProperty("skipper.python");
        if (python != null) {
            try {
                Process p = new ProcessBuilder(python, "-c", "import pydoc_data.topics as t; print(t.__file__)")
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                if (p.waitFor() == 0 && Files.isRegularFile(Path.of(out))) {
                    files.add(Path.of(out));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        List<String> texts = new ArrayList<>();
        for (Path f : files) {
            String all;
            try {
                all = Files.readString(f, StandardCharsets.UTF_8);
            } catch (java.nio.charset.MalformedInputException e) {
                continue;
            }
            if (all.length() > 200_000) {
                all = all.substring(0, 200_000);
            }
            for (String para : all.split("\n\n")) {
                if (!para.isBlank()) {
                    texts.add(para);
                }
            }
            texts.add(all.substring(0, Math.min(all.length(), 20_000))); // long text with every kind of run
        }
        return texts;
    }

    /** Random strings over the classes the split and the digit rule care about, in every script. */
    static List<String> randomText(java.util.Random rng, int n) {
        int[][] ranges = {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {' ', ' '}, {'\t', '\r'}, {'!', '/'}, {'\'', '\''},
            {0xa0, 0xff}, {0x370, 0x3ff}, {0x400, 0x4ff}, {0x590, 0x6ff}, {0x660, 0x669}, {0x900, 0x97f},
            {0x2000, 0x206f}, {0x2150, 0x218f}, {0x2460, 0x24ff}, {0x3000, 0x303f}, {0x4e00, 0x4e80}, {0xac00, 0xac40},
            {0x1f300, 0x1f64f}, {0x1f3fb, 0x1f3ff}, {0x200d, 0x200d}, {0xfe0f, 0xfe0f}, {0x85, 0x85}, {0x1680, 0x1680}};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder b = new StringBuilder();
            int len = 1 + rng.nextInt(40);
            for (int k = 0; k < len; k++) {
                int[] r = ranges[rng.nextInt(ranges.length)];
                b.appendCodePoint(r[0] + rng.nextInt(r[1] - r[0] + 1));
            }
            out.add(b.toString());
        }
        return out;
    }

    private static String clip(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }
}
