package io.jmesh.core.admin;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * The selection of one metric family, as {@link Exposition} asks the registry for it in a text format. The registry
 * hands this very predicate to each collector's {@code collect(Predicate)}; a collector that can write the family's
 * text itself, straight from the data it serves, recognises it and calls {@link #stream} instead of building the
 * family's snapshot (in which each series and its labels are copied into objects before any text is written).
 * Every other collector only sees a predicate.
 */
public final class FamilyScrape implements Predicate<String> {

    private final String name;
    private final List<FamilyText> streamed = new ArrayList<>(1);

    FamilyScrape(String name) {
        this.name = name;
    }

    @Override
    public boolean test(String familyName) {
        return name.equals(familyName);
    }

    /** The family asked for: a collector streams only this one. */
    public String name() {
        return name;
    }

    /** The family is written by {@code text}, once the collection returns, rather than from a snapshot. */
    public void stream(FamilyText text) {
        streamed.add(text);
    }

    boolean streamed() {
        return !streamed.isEmpty();
    }

    void writeStreamed(OutputStream out, boolean openMetrics) throws IOException {
        for (FamilyText text : streamed) {
            FamilyTextWriter w = new FamilyTextWriter(out, openMetrics);
            text.writeTo(w);
            w.flush();
        }
    }
}
