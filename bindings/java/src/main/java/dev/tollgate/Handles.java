package dev.tollgate;

import java.lang.ref.Cleaner;

/** The one {@link Cleaner} that frees native handles whose Java objects became unreachable. */
final class Handles {
    static final Cleaner CLEANER = Cleaner.create();

    private Handles() {}
}
