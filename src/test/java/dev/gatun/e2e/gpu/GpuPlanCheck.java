package dev.gatun.e2e.gpu;

import dev.gatun.e2e.gpu.GpuCommand.Benchmark;
import dev.gatun.e2e.gpu.GpuCommand.Gatun;
import dev.gatun.e2e.gpu.GpuCommand.Program;
import dev.gatun.e2e.gpu.GpuCommand.Tests;
import dev.gatun.cli.GatunCli;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The dry run of the GPU checks: on a machine without a GPU, checks that every step could start. For each command:
 * <ul>
 *   <li>{@code gatun ...}: the command line parses (picocli, every subcommand and option, and the command after
 *       {@code launch ... --});</li>
 *   <li>JUnit: every class the step expects is on the class path, tagged as the step selects and kept by its
 *       package and class-name filters, and every filter keeps at least one class; across the plan, every tagged
 *       test class is in some step;</li>
 *   <li>JMH: the benchmark is in {@code META-INF/BenchmarkList}, JMH parses the options, and each {@code -p} names
 *       a {@code @Param} field;</li>
 *   <li>a program's script: the file exists and (with a python3 here) parses.</li>
 * </ul>
 * With {@code pack}, also that the pack holds what the GPU machine runs ({@code run.sh}, the runtime, the JUnit
 * console launcher). Test classes are found on the class path by name and loaded, uninitialised, to read their
 * tags.
 */
final class GpuPlanCheck {
    private final Path root;
    private final Path pack;
    private final TreeMap<String, Set<String>> tagsByClass;

    /** Checks against the test classes of {@code classPath} (this JVM's own, for the script). */
    GpuPlanCheck(Path root, Path pack, String classPath) {
        this.root = root;
        this.pack = pack;
        this.tagsByClass = testClasses(classPath, pack == null ? List.of() : junitJars(pack));
    }

    /** Prints every step with its verdict; true when none has a problem. */
    boolean check(List<GpuCheckStep> plan, int budgetSeconds, PrintStream out) {
        int limits = plan.stream().mapToInt(GpuCheckStep::limitSeconds).sum();
        out.printf(Locale.ROOT, "dry run of the GPU checks of record: %d steps, budget %d s (step limits add up to "
                + "%d s; steps stop starting once the budget is spent)%n", plan.size(), budgetSeconds, limits);
        boolean ok = true;
        if (pack != null) {
            List<String> problems = packProblems();
            ok = problems.isEmpty();
            out.println((ok ? "  [ok] " : "  [FAIL] ") + "the pack " + pack + (ok ? "" : ": " + problems));
        }
        for (GpuCheckStep step : plan) {
            List<String> problems = new ArrayList<>();
            List<String> notes = new ArrayList<>();
            for (GpuCommand command : step.commands()) {
                problems.addAll(problems(command, notes));
            }
            ok &= problems.isEmpty();
            out.printf(Locale.ROOT, "  [%s] %s (limit %d s, %d GPU%s): %s%n", problems.isEmpty() ? "ok" : "FAIL",
                    step.id(), step.limitSeconds(), step.gpusNeeded(), step.gpusNeeded() > 1 ? "s" : "",
                    String.join("; ", step.commands().stream().map(c -> shortForm(c)).toList()));
            problems.forEach(p -> out.println("         problem: " + p));
            notes.forEach(n -> out.println("         " + n));
        }
        List<String> uncovered = uncovered(plan);
        ok &= uncovered.isEmpty();
        long tagged = tagsByClass.values().stream().filter(t -> t.contains("gpu")).count();
        out.println(uncovered.isEmpty() ? "  [ok] every gpu-tagged test class (" + tagged + ") is in a step"
                : "  [FAIL] gpu-tagged test classes in no step: " + uncovered);
        out.println(ok ? "dry run: every step can start" : "dry run: problems above");
        return ok;
    }

    private List<String> problems(GpuCommand command, List<String> notes) {
        return switch (command) {
            case Gatun g -> gatunProblems(g.args());
            case Tests t -> testProblems(t, notes);
            case Benchmark b -> benchmarkProblems(b);
            case Program p -> programProblems(p, notes);
        };
    }

    private static List<String> gatunProblems(List<String> args) {
        List<String> problems = new ArrayList<>();
        try {
            GatunCli.commandLine().parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            problems.add("gatun " + String.join(" ", args) + ": " + e.getMessage());
        }
        int dashes = args.indexOf("--");
        if (!args.isEmpty() && args.getFirst().equals("launch") && dashes >= 0) {
            problems.addAll(gatunProblems(args.subList(dashes + 1, args.size())));
        }
        return problems;
    }

    private List<String> testProblems(Tests t, List<String> notes) {
        List<String> problems = new ArrayList<>();
        List<String> selected = tagsByClass.entrySet().stream()
                .filter(e -> e.getValue().contains(t.tag()) && t.selects(e.getKey())).map(e -> e.getKey()).toList();
        for (String expected : t.expected()) {
            Set<String> tags = tagsByClass.get(expected);
            if (tags == null) {
                problems.add("test class " + expected + " is not on the class path");
            } else if (!tags.contains(t.tag())) {
                problems.add(expected + " is not tagged '" + t.tag() + "' (tags " + tags + ")");
            } else if (!t.selects(expected)) {
                problems.add(expected + " is not kept by the packages " + t.packages() + " and class names "
                        + t.effectiveClassNames());
            }
        }
        for (String p : t.packages()) {
            if (selected.stream().noneMatch(c -> c.startsWith(p + "."))) {
                problems.add("no '" + t.tag() + "' test class in package " + p);
            }
        }
        if (selected.isEmpty()) {
            problems.add("the filters keep no test class");
        }
        notes.add("tests: " + selected.stream().map(c -> c.substring(c.lastIndexOf('.') + 1)).toList());
        return problems;
    }

    private static List<String> benchmarkProblems(Benchmark b) {
        List<String> problems = new ArrayList<>();
        if (!benchmarkList().contains(b.benchmarkClass())) {
            problems.add(b.benchmarkClass() + " is not in META-INF/BenchmarkList (is the jmh module on the class "
                    + "path, and built?)");
        }
        try {
            List<String> argv = new ArrayList<>(List.of(b.benchmarkClass()));
            argv.addAll(b.options());
            new CommandLineOptions(argv.toArray(String[]::new));
        } catch (CommandLineOptionException e) {
            problems.add("JMH options " + b.options() + ": " + e.getMessage());
        }
        try {
            Class<?> type = Class.forName(b.benchmarkClass(), false, GpuPlanCheck.class.getClassLoader());
            for (String name : b.parameterNames()) {
                try {
                    if (type.getField(name).getAnnotation(Param.class) == null) {
                        problems.add(b.benchmarkClass() + "." + name + " is not a @Param");
                    }
                } catch (NoSuchFieldException e) {
                    problems.add(b.benchmarkClass() + " has no parameter '" + name + "'");
                }
            }
        } catch (ClassNotFoundException e) {
            problems.add("benchmark class " + b.benchmarkClass() + " is not on the class path");
        }
        return problems;
    }

    private List<String> programProblems(Program p, List<String> notes) {
        if (p.script() == null) {
            notes.add("'" + p.command().getFirst() + "' is the GPU machine's own: not checked here");
            return List.of();
        }
        Path script = root.resolve(p.script());
        if (!Files.isRegularFile(script)) {
            return List.of("script " + p.script() + " does not exist");
        }
        try {
            Process check = new ProcessBuilder("python3", "-c",
                    "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", script.toString())
                    .redirectErrorStream(true).start();
            String text = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!check.waitFor(30, TimeUnit.SECONDS)) {
                check.destroyForcibly();
                return List.of("python3 did not parse " + p.script() + " in 30 s");
            }
            return check.exitValue() == 0 ? List.of() : List.of(p.script() + " does not parse: " + text.strip());
        } catch (IOException e) {
            notes.add("no python3 here: " + p.script() + " was not parsed");
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of("interrupted");
        }
    }

    /** The gpu-tagged test classes that no step's tests select. */
    List<String> uncovered(List<GpuCheckStep> plan) {
        List<Tests> tests = plan.stream().flatMap(s -> s.commands().stream())
                .filter(c -> c instanceof Tests).map(c -> (Tests) c).toList();
        return tagsByClass.entrySet().stream().filter(e -> e.getValue().contains("gpu"))
                .map(e -> e.getKey())
                .filter(c -> tests.stream().noneMatch(t -> t.tag().equals("gpu") && t.selects(c))).toList();
    }

    private List<String> packProblems() {
        List<String> problems = new ArrayList<>();
        for (String file : List.of("run.sh", "jre.tgz")) {
            if (!Files.isRegularFile(pack.resolve(file))) {
                problems.add(file + " is missing");
            }
        }
        if (junitJars(pack).isEmpty()) {
            problems.add("lib/ has no JUnit console launcher");
        }
        return problems;
    }

    private static List<Path> junitJars(Path pack) {
        try (Stream<Path> lib = Files.isDirectory(pack.resolve("lib")) ? Files.list(pack.resolve("lib"))
                : Stream.empty()) {
            return lib.filter(f -> f.getFileName().toString().startsWith("junit-platform-console-standalone"))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("listing " + pack.resolve("lib"), e);
        }
    }

    private static String benchmarkList() {
        StringBuilder all = new StringBuilder();
        try {
            for (URL url : Collections.list(GpuPlanCheck.class.getClassLoader()
                    .getResources("META-INF/BenchmarkList"))) {
                try (InputStream in = url.openStream()) {
                    all.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading META-INF/BenchmarkList", e);
        }
        return all.toString();
    }

    private static String shortForm(GpuCommand c) {
        return switch (c) {
            case Gatun g -> "gatun " + String.join(" ", g.args());
            case Tests t -> "tests tagged " + t.tag() + " in " + t.packages()
                    + (t.classNames().isEmpty() ? "" : " named " + t.classNames());
            case Benchmark b -> "jmh " + b.benchmarkClass().substring(b.benchmarkClass().lastIndexOf('.') + 1) + " "
                    + String.join(" ", b.options());
            case Program p -> String.join(" ", p.command());
        };
    }

    /**
     * The test classes (JUnit's default class-name pattern, top-level) on a class path, with their {@code @Tag}
     * values: loaded, not initialised, in a loader of their own over the class path and {@code extra} (the JUnit
     * jar, which the pack keeps off the class path of its main classes), annotations read by name.
     */
    static TreeMap<String, Set<String>> testClasses(String classPath, List<Path> extra) {
        List<String> names = new ArrayList<>();
        List<URL> urls = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator)) {
            Path path = Path.of(entry);
            try {
                urls.add(path.toUri().toURL());
                if (Files.isDirectory(path)) {
                    try (Stream<Path> files = Files.walk(path)) {
                        files.map(f -> path.relativize(f).toString().replace(File.separatorChar, '.'))
                                .forEach(n -> addCandidate(names, n));
                    }
                } else if (entry.endsWith(".jar") && Files.isRegularFile(path)) {
                    try (JarFile jar = new JarFile(path.toFile())) {
                        Collections.list(jar.entries()).forEach(e -> addCandidate(names, e.getName().replace('/', '.')));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("reading class path entry " + entry, e);
            }
        }
        for (Path jar : extra) {
            try {
                urls.add(jar.toUri().toURL());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        TreeMap<String, Set<String>> classes = new TreeMap<>();
        try (URLClassLoader loader = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
            for (String name : names) {
                Set<String> tags = new TreeSet<>();
                try {
                    for (java.lang.annotation.Annotation a : Class.forName(name, false, loader).getAnnotations()) {
                        collectTags(a, tags);
                    }
                } catch (ClassNotFoundException | LinkageError e) {
                    tags.add("(cannot load: " + e + ")");
                }
                classes.put(name, tags);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return classes;
    }

    private static void addCandidate(List<String> names, String fileName) {
        if (!fileName.endsWith(".class") || fileName.contains("$")) {
            return;
        }
        String name = fileName.substring(0, fileName.length() - ".class".length());
        if (name.matches(Tests.DEFAULT_CLASS_NAMES) && name.startsWith("dev.gatun.") && !name.contains("jmh_generated")) {
            names.add(name);
        }
    }

    private static void collectTags(java.lang.annotation.Annotation a, Set<String> tags) {
        String type = a.annotationType().getName();
        if (!type.equals("org.junit.jupiter.api.Tag") && !type.equals("org.junit.jupiter.api.Tags")) {
            return;
        }
        try {
            Object value = a.annotationType().getMethod("value").invoke(a);
            if (value instanceof String tag) {
                tags.add(tag);
            } else if (value instanceof java.lang.annotation.Annotation[] nested) {
                for (java.lang.annotation.Annotation n : nested) {
                    collectTags(n, tags);
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("reading @" + type + " of a test class", e);
        }
    }
}
