package dev.tollgate;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Loads {@code libtollgate_jni} once per class loader.
 *
 * <p>In order, the first that works:
 * <ol>
 *   <li>the file named by the system property {@code tollgate.library.path}, if set (nothing
 *       else is tried);
 *   <li>this jar's resource {@code /native/<os>-<arch>/<library file>}, as ONE content-addressed
 *       copy {@code libtollgate_jni-<SHA-256 of the bytes>.so} in the directory named by the
 *       system property {@code tollgate.native.dir} (if set), else in
 *       {@code <java.io.tmpdir>/tollgate-native-<user.name>} (created mode 0700). A copy already
 *       there is reused when its SHA-256 matches; otherwise the bytes are written to a temporary
 *       file in the same directory and renamed into place atomically, so concurrent JVMs and
 *       class-loader reloads share one file and leave nothing else behind. The directory may be
 *       read-only when the right copy is already in it (e.g. installed by a package); one
 *       that other users may write to is refused;
 *   <li>{@code System.loadLibrary("tollgate_jni")}, i.e. {@code java.library.path}.
 * </ol>
 * A directory where loading fails (a {@code noexec} mount, no write access) is skipped, and
 * the next way is tried: with a {@code noexec} temporary directory, point
 * {@code tollgate.native.dir} at an executable directory or put the library on
 * {@code java.library.path}. When the shared copy is already loaded by another, still live
 * class loader (the JVM allows one loader per file), a private copy is loaded and deleted at
 * once (the mapping stays valid; nothing is left on disk). If nothing works, the
 * {@link UnsatisfiedLinkError} lists every attempt as suppressed exceptions.
 *
 * <p>The jar built by {@code bindings/java/test.sh} carries {@code native/linux-x86_64/}.
 */
public final class NativeLibrary {
    private static final String NAME = "tollgate_jni";
    private static String source;

    private NativeLibrary() {}

    /** How a library file is loaded: {@link System#load} and {@link System#loadLibrary}. */
    interface Loader {
        /** Loads the library file at an absolute path. */
        void load(String absolutePath);

        /** Loads a library by name from {@code java.library.path}. */
        void loadLibrary(String name);
    }

    private static final Loader SYSTEM = new Loader() {
        @Override
        public void load(String absolutePath) {
            System.load(absolutePath);
        }

        @Override
        public void loadLibrary(String name) {
            System.loadLibrary(name);
        }
    };

    /** Loads the library if not done yet. Throws {@link UnsatisfiedLinkError} if it cannot. */
    static synchronized void load() {
        if (source != null) {
            return;
        }
        String explicit = System.getProperty("tollgate.library.path");
        if (explicit != null) {
            System.load(Path.of(explicit).toAbsolutePath().toString());
            source = explicit;
            return;
        }
        String resource = "/native/" + platform() + "/" + System.mapLibraryName(NAME);
        byte[] bytes = null;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in != null) {
                bytes = in.readAllBytes();
            }
        } catch (IOException e) {
            UnsatisfiedLinkError error =
                    new UnsatisfiedLinkError("cannot read " + resource + ": " + e);
            error.initCause(e);
            throw error;
        }
        source = load(SYSTEM, bytes, resource, directories());
    }

    /**
     * Where the resource is extracted, in order: {@code tollgate.native.dir}, then the per-user
     * directory under {@code java.io.tmpdir}.
     */
    static List<Path> directories() {
        List<Path> dirs = new ArrayList<>(2);
        String configured = System.getProperty("tollgate.native.dir");
        if (configured != null && !configured.isEmpty()) {
            dirs.add(Path.of(configured).toAbsolutePath());
        }
        String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
        dirs.add(Path.of(System.getProperty("java.io.tmpdir"), "tollgate-native-" + user)
                .toAbsolutePath());
        return dirs;
    }

    /**
     * The loading procedure of {@link #load()} with its side effects injected (the test seam):
     * {@code library} (the resource's bytes, or {@code null} when the jar has none) is extracted
     * into the first of {@code dirs} where {@code loader} can load it, else the library is
     * loaded from {@code java.library.path}.
     *
     * @return where it was loaded from, as {@link #source()} reports it
     */
    static String load(Loader loader, byte[] library, String resource, List<Path> dirs) {
        List<Throwable> failures = new ArrayList<>();
        if (library != null) {
            String file = "lib" + NAME + "-" + sha256(library) + ".so";
            for (Path dir : dirs) {
                try {
                    Path copy = extract(library, dir, file);
                    try {
                        loader.load(copy.toString());
                    } catch (UnsatisfiedLinkError e) {
                        if (!String.valueOf(e.getMessage()).contains("another classloader")) {
                            throw e;
                        }
                        loadPrivateCopy(loader, copy);
                    }
                    return "resource " + resource;
                } catch (IOException | UnsatisfiedLinkError | SecurityException e) {
                    failures.add(e);
                }
            }
        }
        try {
            loader.loadLibrary(NAME);
            return "java.library.path";
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError error = new UnsatisfiedLinkError("cannot load " + NAME
                    + (library == null ? " (no resource " + resource + " in the jar)"
                            : " from " + dirs + " nor")
                    + " from java.library.path: " + e.getMessage());
            failures.forEach(error::addSuppressed);
            error.addSuppressed(e);
            throw error;
        }
    }

    /**
     * The content-addressed copy {@code dir/file} of {@code library}: reused when its bytes
     * hash to the name, else written to a temporary file in {@code dir} and renamed over it.
     */
    static Path extract(byte[] library, Path dir, String file) throws IOException {
        if (!Files.isDirectory(dir)) {
            try {
                Files.createDirectories(dir);
                try {
                    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
                } catch (UnsupportedOperationException e) {
                    // Not a POSIX file system: its default permissions apply.
                }
            } catch (FileAlreadyExistsException e) {
                // Created by a concurrent JVM.
            }
        }
        checkPrivate(dir);
        Path target = dir.resolve(file);
        if (Files.isRegularFile(target) && matches(target, file)) {
            return target;
        }
        Path temp = Files.createTempFile(dir, "." + file, ".tmp");
        try {
            Files.write(temp, library);
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        return target;
    }

    /**
     * Refuses a directory that others may write to: they could swap the copy between its
     * hash check and its loading.
     */
    private static void checkPrivate(Path dir) throws IOException {
        try {
            Set<PosixFilePermission> p = Files.getPosixFilePermissions(dir);
            if (p.contains(PosixFilePermission.GROUP_WRITE)
                    || p.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IOException(dir + " is writable by other users");
            }
        } catch (UnsupportedOperationException e) {
            // Not a POSIX file system.
        }
    }

    /** Whether the file's SHA-256 is the one in its content-addressed name. */
    private static boolean matches(Path copy, String name) throws IOException {
        return name.equals("lib" + NAME + "-" + sha256(Files.readAllBytes(copy)) + ".so");
    }

    /**
     * Loads a private copy of {@code shared} (another live class loader holds the shared one)
     * and deletes it at once: the loaded mapping outlives the directory entry.
     */
    private static void loadPrivateCopy(Loader loader, Path shared) throws IOException {
        Path copy = Files.createTempFile(shared.getParent(), "." + shared.getFileName(), ".so");
        try {
            Files.copy(shared, copy, StandardCopyOption.REPLACE_EXISTING);
            loader.load(copy.toString());
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JVM has SHA-256", e);
        }
    }

    /**
     * Where the library was loaded from: {@code "resource /native/…"},
     * {@code "java.library.path"} or the {@code tollgate.library.path} file. Loads it first.
     */
    public static String source() {
        load();
        return source;
    }

    /** This machine's resource directory name, e.g. {@code linux-x86_64}. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux"
                : os.contains("mac") ? "macos"
                : os.contains("windows") ? "windows" : os.replaceAll("\\W", "");
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
                : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return o + "-" + a;
    }

    /**
     * Prints the binding's version and where its native library came from: {@code java -jar
     * tollgate-java.jar}.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        System.out.println("tollgate-java " + LicenseManager.version() + " (native library: "
                + source() + ")");
    }
}
