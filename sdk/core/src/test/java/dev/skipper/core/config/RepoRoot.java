package dev.skipper.core.config;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository root (the folder holding {@code configs/}) from the test's working directory. */
final class RepoRoot {
    private RepoRoot() {
    }

    static Path find() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("configs/smollm2-135m-cpu.yaml"))) {
                return p;
            }
        }
        throw new IllegalStateException("no configs/ folder above " + Path.of("").toAbsolutePath());
    }
}
