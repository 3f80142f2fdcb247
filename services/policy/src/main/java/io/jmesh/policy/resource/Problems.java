package io.jmesh.policy.resource;

import java.util.ArrayList;
import java.util.List;

/**
 * Collects what is wrong with one document (errors: the object is rejected whole) and what will not take effect
 * as written (warnings: the object is accepted). Each error names the field path, e.g.
 * {@code spec.rules[0].from[1].source.principals[2]}.
 */
public final class Problems {

    /** One validation error at {@code path} (empty for document-level problems). */
    public record FieldError(String path, String message) {
        @Override
        public String toString() {
            return path.isEmpty() ? message : path + ": " + message;
        }
    }

    private final List<FieldError> errors = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    public void error(String path, String message) {
        errors.add(new FieldError(path, message));
    }

    public void warn(String message) {
        warnings.add(message);
    }

    public boolean hasErrors() {
        return !errors.isEmpty();
    }

    public List<FieldError> errors() {
        return List.copyOf(errors);
    }

    public List<String> warnings() {
        return List.copyOf(warnings);
    }
}
