package dev.gatun.e2e;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The published artifacts stay in step with the build: {@code gatun-bom} pins every library module of the reactor,
 * and each declares a stable JPMS name (its jar's {@code Automatic-Module-Name}).
 */
class BomTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent().getParent(); // src/test -> root
    private static final List<String> NOT_PUBLISHED = List.of("bom", "src/test", "examples");

    private static List<String> all(Pattern p, String text) {
        List<String> found = new ArrayList<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }

    @Test
    void theBomPinsEveryLibraryModuleAndEachHasAModuleName() throws IOException {
        String root = Files.readString(ROOT.resolve("pom.xml"));
        String bom = Files.readString(ROOT.resolve("bom/pom.xml"));
        List<String> modules = all(Pattern.compile("<module>([^<]+)</module>"), root);
        assertTrue(modules.size() >= 10, modules.toString());
        for (String module : modules) {
            if (NOT_PUBLISHED.contains(module)) {
                continue;
            }
            String pom = Files.readString(ROOT.resolve(module).resolve("pom.xml"));
            String artifact = all(Pattern.compile("<artifactId>(gatun-[^<]+)</artifactId>"), pom).get(1);
            assertTrue(bom.contains("<artifactId>" + artifact + "</artifactId>"), "gatun-bom lacks " + artifact);
            assertTrue(pom.matches("(?s).*<gatun.module.name>dev\\.gatun\\.[a-z.]+</gatun.module.name>.*"),
                    module + " declares no module name");
        }
    }
}
