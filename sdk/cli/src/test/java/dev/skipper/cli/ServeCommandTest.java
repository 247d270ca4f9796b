package dev.skipper.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve} over the fake engine: it listens (then stops: the test context has no signals) and refuses a bad bind. */
class ServeCommandTest {
    @TempDir
    Path tmp;

    @Test
    void startsOnLoopbackAndStops() {
        Cli.Result r = Cli.withInput(new FakeEngine(), "", "serve", "--bundle", "b", "--port", "0", "--sessions", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().matches("(?s)serve: b on .* at http://127\\.0\\.0\\.1:\\d+ \\(2 session\\(s\\), queue 16\\).*"
                + "serve: stopped.*"), r.err());
    }

    @Test
    void aNonLoopbackHostNeedsAKeyAndAKeyFileMustHoldOne() throws Exception {
        Cli.Result r = Cli.withInput(new FakeEngine(), "", "serve", "--bundle", "b", "--port", "0", "--host", "0.0.0.0");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("error: host 0.0.0.0 is not loopback") && r.err().contains("--insecure"), r.err());
        Path empty = Files.writeString(tmp.resolve("key.txt"), "\n");
        r = Cli.withInput(new FakeEngine(), "", "serve", "--bundle", "b", "--port", "0", "--api-key-file",
                empty.toString());
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("error: " + empty + ": the API key file is empty"), r.err());
        Path key = Files.writeString(tmp.resolve("key2.txt"), "s3cret\n");
        r = Cli.withInput(new FakeEngine(), "", "serve", "--bundle", "b", "--port", "0", "--host", "0.0.0.0",
                "--api-key-file", key.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("API key required"), r.err());
    }
}
