package io.jmesh.core.config;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Binds a {@link YamlTree} to a record tree through canonical constructors: every key must be a component,
 * every value must fit its component's type, and a constructor's {@link IllegalArgumentException} is reported
 * under the key of the record that threw it. Types: records, {@code String}, {@code int}/{@code long}/
 * {@code short}/{@code boolean} (and boxes), {@link Duration} (a number of seconds or {@code 10s}-style text),
 * enums (case-insensitive), {@code List<T>} (a single value is a list of one) and {@code Map<String, T>}.
 * A component whose key is absent gets Java's default (null, 0, false): the defaults file names every key.
 */
final class RecordBinder {

    /** A binding error, its message naming the key: {@code 'server.port': cannot read 'x' as an integer}. */
    static final class BindException extends RuntimeException {
        BindException(String path, String problem, Throwable cause) {
            super(path.isEmpty() ? problem : "'" + path + "': " + problem, cause);
        }
    }

    private RecordBinder() {}

    static <T> T bind(Object tree, Class<T> type) {
        return type.cast(value(tree, type, ""));
    }

    private static Object value(Object v, Type type, String path) {
        Class<?> raw = raw(type);
        if (v == null) {
            if (raw.isPrimitive()) {
                throw new BindException(path, "must not be null (expected: " + expected(raw) + ")", null);
            }
            return null;
        }
        if (raw.isRecord()) {
            return record(v, raw, path);
        }
        if (raw == List.class) {
            Type element = argument(type, 0, path);
            List<?> items = v instanceof List<?> l ? l : List.of(v);
            List<Object> out = new ArrayList<>(items.size());
            for (int i = 0; i < items.size(); i++) {
                out.add(value(items.get(i), element, path + "[" + i + "]"));
            }
            return Collections.unmodifiableList(out);
        }
        if (raw == Map.class) {
            if (!(v instanceof Map<?, ?> m)) {
                throw shape(path, raw, v);
            }
            Type valueType = argument(type, 1, path);
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put((String) k, value(x, valueType, join(path, (String) k))));
            return Collections.unmodifiableMap(out);
        }
        if (v instanceof Map<?, ?> || v instanceof List<?>) {
            throw shape(path, raw, v);
        }
        return scalar(v, raw, path);
    }

    private static Object record(Object v, Class<?> type, String path) {
        if (!(v instanceof Map<?, ?> m)) {
            throw shape(path, type, v);
        }
        RecordComponent[] components = type.getRecordComponents();
        Map<String, Integer> index = new LinkedHashMap<>();
        for (int i = 0; i < components.length; i++) {
            index.put(components[i].getName(), i);
        }
        for (Object key : m.keySet()) {
            if (!index.containsKey(key)) {
                throw new BindException("", "unknown key '" + join(path, (String) key)
                        + "' (known keys here: " + String.join(", ", new TreeSet<>(index.keySet())) + ")", null);
            }
        }
        Object[] args = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            RecordComponent c = components[i];
            types[i] = c.getType();
            String key = join(path, c.getName());
            args[i] = m.containsKey(c.getName()) ? value(m.get(c.getName()), c.getGenericType(), key)
                    : defaultOf(c.getType());
        }
        try {
            Constructor<?> ctor = type.getDeclaredConstructor(types);
            ctor.setAccessible(true);
            return ctor.newInstance(args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            throw new BindException(path, String.valueOf(cause.getMessage()), cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot construct " + type.getName() + ": " + e, e);
        }
    }

    private static Object scalar(Object v, Class<?> type, String path) {
        String text = String.valueOf(v);
        if (type == String.class) {
            return text;
        }
        if (type == boolean.class || type == Boolean.class) {
            if (unquoted(v) instanceof Boolean yes) {
                return yes;
            }
            throw cannotRead(path, text, type);
        }
        if (type == int.class || type == Integer.class) {
            return (int) integer(v, Integer.MIN_VALUE, Integer.MAX_VALUE, path, type);
        }
        if (type == long.class || type == Long.class) {
            return integer(v, Long.MIN_VALUE, Long.MAX_VALUE, path, type);
        }
        if (type == short.class || type == Short.class) {
            return (short) integer(v, Short.MIN_VALUE, Short.MAX_VALUE, path, type);
        }
        if (type == Duration.class) {
            if (unquoted(v) instanceof Long seconds) {
                return Duration.ofSeconds(seconds);
            }
            try {
                return Durations.parse(text);
            } catch (IllegalArgumentException e) {
                throw cannotRead(path, text, type);
            }
        }
        if (type.isEnum()) {
            for (Object constant : type.getEnumConstants()) {
                if (((Enum<?>) constant).name().equalsIgnoreCase(text)) {
                    return constant;
                }
            }
            throw cannotRead(path, text, type);
        }
        throw new IllegalStateException(path + ": configuration records cannot hold a " + type.getName());
    }

    private static long integer(Object v, long min, long max, String path, Class<?> type) {
        if (unquoted(v) instanceof Long n && n >= min && n <= max) {
            return n;
        }
        throw cannotRead(path, String.valueOf(v), type);
    }

    /** A quoted scalar read as if plain: "15008" and "true", as templated YAML often writes them, keep their type. */
    private static Object unquoted(Object v) {
        return v instanceof String text ? YamlTree.scalar(text.strip()) : v;
    }

    private static Object defaultOf(Class<?> type) {
        if (!type.isPrimitive()) {
            return null;
        }
        if (type == boolean.class) {
            return false;
        }
        if (type == int.class) {
            return 0;
        }
        if (type == long.class) {
            return 0L;
        }
        if (type == short.class) {
            return (short) 0;
        }
        throw new IllegalStateException("configuration records cannot hold a " + type.getName());
    }

    private static BindException cannotRead(String path, String text, Class<?> type) {
        return new BindException(path, "cannot read '" + text + "' as " + expected(type), null);
    }

    private static BindException shape(String path, Class<?> type, Object v) {
        return new BindException(path, "wrong shape (expected: " + expected(type) + ", found "
                + YamlTree.kind(v) + ")", null);
    }

    /** What a value of {@code type} looks like, for messages. */
    static String expected(Class<?> type) {
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class
                || type == short.class || type == Short.class) {
            return "an integer" + (type == short.class || type == Short.class ? " up to 32767"
                    : type == int.class || type == Integer.class ? " up to 2147483647" : "");
        }
        if (type == boolean.class || type == Boolean.class) {
            return "true or false";
        }
        if (type == Duration.class) {
            return "a duration such as 10s";
        }
        if (type.isEnum()) {
            StringBuilder sb = new StringBuilder("one of ");
            Object[] values = type.getEnumConstants();
            for (int i = 0; i < values.length; i++) {
                sb.append(i == 0 ? "" : ", ").append(values[i]);
            }
            return sb.toString();
        }
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        if (Map.class.isAssignableFrom(type) || type.isRecord()) {
            return "a mapping";
        }
        return type == String.class ? "a string" : type.getSimpleName();
    }

    private static Class<?> raw(Type type) {
        if (type instanceof Class<?> c) {
            return c;
        }
        if (type instanceof ParameterizedType p) {
            return (Class<?>) p.getRawType();
        }
        throw new IllegalStateException("unsupported configuration type " + type);
    }

    private static Type argument(Type type, int i, String path) {
        if (type instanceof ParameterizedType p) {
            return p.getActualTypeArguments()[i];
        }
        throw new IllegalStateException(path + ": a raw " + type + " in a configuration record");
    }

    private static String join(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }
}
