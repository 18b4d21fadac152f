# Sourced by the jmh scripts: sets JAVA to a JDK >= 22 (JAVA_HOME, then java on PATH, then the usual install dirs).
for candidate in "${JAVA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")" \
                 /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  [ -x "$candidate/bin/java" ] || continue
  v=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null; then JAVA="$candidate/bin/java"; break; fi
done
[ -n "${JAVA:-}" ] || { echo "no JDK >= 22 found: set JAVA_HOME" >&2; exit 1; }
export JAVA

# jmh_run BENCHMARK: builds jmh/target/benchmarks.jar when it is missing, then runs BENCHMARK (with $JMH_OPTS), its
# output on stderr and in the file $JMH_LOG, removed on exit.
jmh_run() {
  local root jar
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  jar="$root/jmh/target/benchmarks.jar"
  [ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
  JMH_LOG=$(mktemp)
  trap 'rm -f "$JMH_LOG"' EXIT
  "$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" "$1" ${JMH_OPTS:-} \
    | tee "$JMH_LOG" >&2
}
