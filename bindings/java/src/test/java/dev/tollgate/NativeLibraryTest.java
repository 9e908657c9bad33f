package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link NativeLibrary}: one content-addressed copy, atomic extraction, and the fallbacks when
 * a directory is {@code noexec} (simulated through the {@link NativeLibrary.Loader} seam: a
 * loader that fails for files in the "noexec" directory as {@code dlopen} does there).
 */
class NativeLibraryTest {
    @TempDir
    Path tmp;

    static final byte[] LIBRARY = "not really an ELF file".getBytes(StandardCharsets.UTF_8);
    static final String NAME = "libtollgate_jni-" + NativeLibrary.sha256(LIBRARY) + ".so";

    /** Records what it loads; fails for paths under {@code noexec} (null: none). */
    static final class FakeLoader implements NativeLibrary.Loader {
        final Path noexec;
        final boolean libraryPathWorks;
        final List<String> loaded = new ArrayList<>();

        FakeLoader(Path noexec, boolean libraryPathWorks) {
            this.noexec = noexec;
            this.libraryPathWorks = libraryPathWorks;
        }

        @Override
        public void load(String path) {
            if (noexec != null && Path.of(path).startsWith(noexec)) {
                throw new UnsatisfiedLinkError(path
                        + ": failed to map segment from shared object: Operation not permitted");
            }
            loaded.add(path);
        }

        @Override
        public void loadLibrary(String name) {
            if (!libraryPathWorks) {
                throw new UnsatisfiedLinkError("no " + name + " in java.library.path");
            }
            loaded.add("loadLibrary " + name);
        }
    }

    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void repeatedLoadsShareOneContentAddressedCopy() throws Exception {
        Path dir = tmp.resolve("native");
        FakeLoader loader = new FakeLoader(null, false);
        for (int i = 0; i < 5; i++) {
            assertEquals("resource /r", NativeLibrary.load(loader, LIBRARY, "/r", List.of(dir)));
        }
        assertEquals(List.of(NAME), names(dir));
        assertEquals(5, loader.loaded.size());
        assertTrue(loader.loaded.stream().allMatch(p -> p.equals(dir.resolve(NAME).toString())));
        assertArrayEquals(LIBRARY, Files.readAllBytes(dir.resolve(NAME)));
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir)));

        // A damaged copy is replaced (atomically), not loaded.
        Files.write(dir.resolve(NAME), "damaged".getBytes(StandardCharsets.UTF_8));
        NativeLibrary.load(loader, LIBRARY, "/r", List.of(dir));
        assertArrayEquals(LIBRARY, Files.readAllBytes(dir.resolve(NAME)));
        assertEquals(List.of(NAME), names(dir));
    }

    @Test
    void aNoexecDirectoryFallsBackToTheNextDirectory() throws Exception {
        Path noexec = tmp.resolve("noexec");
        Path configured = tmp.resolve("configured");
        FakeLoader loader = new FakeLoader(noexec, false);
        assertEquals("resource /r",
                NativeLibrary.load(loader, LIBRARY, "/r", List.of(noexec, configured)));
        assertEquals(List.of(configured.resolve(NAME).toString()), loader.loaded);
        assertEquals(List.of(NAME), names(configured));
    }

    @Test
    void withEveryDirectoryNoexecItFallsBackToJavaLibraryPath() throws Exception {
        Path noexec = tmp.resolve("noexec");
        FakeLoader loader = new FakeLoader(noexec, true);
        assertEquals("java.library.path", NativeLibrary.load(loader, LIBRARY, "/r",
                List.of(noexec.resolve("a"), noexec.resolve("b"))));
        assertEquals(List.of("loadLibrary tollgate_jni"), loader.loaded);
        // No resource in the jar at all: straight to java.library.path.
        FakeLoader plain = new FakeLoader(null, true);
        assertEquals("java.library.path", NativeLibrary.load(plain, null, "/r", List.of(tmp)));
        assertEquals(List.of("loadLibrary tollgate_jni"), plain.loaded);
    }

    @Test
    void whenNothingWorksTheErrorListsEveryAttempt() throws Exception {
        Path noexec = tmp.resolve("noexec");
        FakeLoader loader = new FakeLoader(noexec, false);
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class, () -> NativeLibrary
                .load(loader, LIBRARY, "/r", List.of(noexec.resolve("a"), noexec.resolve("b"))));
        assertEquals(3, e.getSuppressed().length, e.toString());
        assertTrue(e.getMessage().contains("java.library.path"), e.getMessage());
        assertEquals(List.of(), loader.loaded);
    }

    @Test
    void aDirectoryOthersMayWriteIsSkipped() throws Exception {
        Path open = Files.createDirectories(tmp.resolve("open"));
        Files.setPosixFilePermissions(open,
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Path mine = tmp.resolve("mine");
        FakeLoader loader = new FakeLoader(null, false);
        NativeLibrary.load(loader, LIBRARY, "/r", List.of(open, mine));
        assertEquals(List.of(mine.resolve(NAME).toString()), loader.loaded);
        assertEquals(List.of(), names(open));
    }

    /** The real library, loaded again by a second class loader while the first lives. */
    @Test
    void aClassLoaderReloadLeavesNoSecondCopy() throws Exception {
        assertTrue(NativeLibrary.source().startsWith("resource "), NativeLibrary.source());
        List<Path> dirs = NativeLibrary.directories();
        Path dir = dirs.get(dirs.size() - 1);
        List<String> before = names(dir);
        URL classes = NativeLibrary.class.getProtectionDomain().getCodeSource().getLocation();
        try (URLClassLoader other = new URLClassLoader(new URL[] {classes},
                ClassLoader.getPlatformClassLoader())) {
            Class<?> lib = Class.forName("dev.tollgate.NativeLibrary", true, other);
            assertTrue(lib != NativeLibrary.class);
            assertEquals(NativeLibrary.source(), lib.getMethod("source").invoke(null));
            Class<?> manager = Class.forName("dev.tollgate.LicenseManager", true, other);
            assertEquals(LicenseManager.version(), manager.getMethod("version").invoke(null));
        }
        assertEquals(before, names(dir));
        assertTrue(before.stream().filter(n -> n.endsWith(".tmp") || n.startsWith("."))
                .toList().isEmpty(), before.toString());
    }
}
