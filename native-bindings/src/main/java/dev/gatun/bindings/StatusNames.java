package dev.gatun.bindings;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Status code → name, read from a raw header class's constants (the {@code static int NAME()} methods jextract
 * emits), so the names are never written twice. Used where the library is not loaded or has no name function.
 */
final class StatusNames {
    private final Map<Integer, String> names = new HashMap<>();
    private final String enumName;

    StatusNames(Class<?> header, String enumName, Predicate<String> isStatus) {
        this.enumName = enumName;
        for (Method m : header.getDeclaredMethods()) {
            if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())
                    && m.getParameterCount() == 0 && m.getReturnType() == int.class && isStatus.test(m.getName())) {
                try {
                    names.putIfAbsent((Integer) m.invoke(null), m.getName());
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot read constant " + m, e);
                }
            }
        }
    }

    /** The constant's name, or {@code enumName(code)} for a code the bindings do not list. */
    String name(int code) {
        String name = names.get(code);
        return name != null ? name : enumName + "(" + code + ")";
    }
}
