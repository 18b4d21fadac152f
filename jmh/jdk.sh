# Sourced by the jmh scripts: sets JAVA to a JDK >= 22 (JAVA_HOME, then java on PATH, then the usual install dirs).
for candidate in "${JAVA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")" \
                 /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  [ -x "$candidate/bin/java" ] || continue
  v=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null; then JAVA="$candidate/bin/java"; break; fi
done
[ -n "${JAVA:-}" ] || { echo "no JDK >= 22 found: set JAVA_HOME" >&2; exit 1; }
export JAVA
