package io.jmesh.core.admin;

import java.io.IOException;

/** A metric family that writes its own text, series by series ({@link FamilyScrape#stream}). */
@FunctionalInterface
public interface FamilyText {

    /** Writes the family; nothing at all (no header either) when it has no series, as the snapshot writers do. */
    void writeTo(FamilyTextWriter out) throws IOException;
}
